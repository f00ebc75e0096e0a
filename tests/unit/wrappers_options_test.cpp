// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for privsep/wrappers_options: which option fields of tcp_wrappers rules decide (a lone
// allow or deny) and which refuse the client, read as libwrap reads them.
#include "privsep/wrappers_options.hpp"

#include <gtest/gtest.h>

namespace moat {
namespace {

OptionField::Kind kind(std::string_view field) { return classify_option_field(field).kind; }
std::string_view refused(std::string_view field) { return classify_option_field(field).option; }

TEST(WrappersOptions, ALoneAllowOrDenyDecides) {
  EXPECT_EQ(kind("allow"), OptionField::kAllow);
  EXPECT_EQ(kind("  ALLOW \n"), OptionField::kAllow);
  EXPECT_EQ(kind("deny"), OptionField::kDeny);
  EXPECT_EQ(kind("\tDeny"), OptionField::kDeny);
}

TEST(WrappersOptions, AnyOtherOptionIsRefusedByName) {
  EXPECT_EQ(refused("spawn (/bin/echo %a) &"), "spawn");
  EXPECT_EQ(refused("twist=/bin/echo"), "twist");
  EXPECT_EQ(refused("severity auth.info : allow"), "severity");
  EXPECT_EQ(refused("keepalive"), "keepalive");
  EXPECT_EQ(refused("no-such-option"), "no-such-option");
  EXPECT_EQ(kind("banners /etc/banners"), OptionField::kRefused);
}

TEST(WrappersOptions, AllowOrDenyWithCompanyIsRefused) {
  // "allow" followed by another option, or with a value: libwrap rejects both rules.
  EXPECT_EQ(kind("allow : spawn /bin/true"), OptionField::kRefused);
  EXPECT_EQ(kind("allow yes"), OptionField::kRefused);
  EXPECT_EQ(kind("deny=1"), OptionField::kRefused);
  EXPECT_EQ(kind("allow : deny"), OptionField::kRefused);
}

TEST(WrappersOptions, EscapedColonsDoNotSeparate) {
  EXPECT_EQ(refused("spawn echo a\\:allow"), "spawn");
  EXPECT_EQ(refused("setenv X a\\: b : allow"), "setenv");
}

TEST(WrappersOptions, EmptyOrBlankFieldsAreRefused) {
  EXPECT_EQ(kind(""), OptionField::kRefused);
  EXPECT_EQ(kind("  "), OptionField::kRefused);
  EXPECT_EQ(kind(":allow"), OptionField::kRefused);
  EXPECT_EQ(kind(std::string_view("al\0low", 6)), OptionField::kRefused);
}

TEST(WrappersOptions, OptionNamesRoundTrip) {
  EXPECT_EQ(wrappers_option_name(wrappers_option_index("SPAWN")), "spawn");
  EXPECT_EQ(wrappers_option_name(wrappers_option_index("twist")), "twist");
  EXPECT_EQ(wrappers_option_index("nonsense"), kUnknownOption);
  EXPECT_EQ(wrappers_option_name(kUnknownOption), "an unknown option");
  EXPECT_EQ(wrappers_option_name(200), "an unknown option");
}

}  // namespace
}  // namespace moat
