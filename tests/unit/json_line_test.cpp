// SPDX-License-Identifier: GPL-2.0-or-later
// json_log_file lines: escaping of whatever a client sends.
#include "core/common/json_line.hpp"

#include <gtest/gtest.h>

namespace moat {
namespace {

TEST(JsonLine, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("x\r\n\t\x01\x7f"), R"("x\r\n\t\u0001\u007f")");
  EXPECT_EQ(json_string(std::string_view("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonLine, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_string("Grüße €"), "\"Grüße €\"");
  EXPECT_EQ(json_string("\xff\xc3"), R"("\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
}

TEST(JsonLine, BuildsOneObjectPerLine) {
  JsonLine j;
  j.str("event", "mkdir").num("bytes", 42).boolean("ok", true).str("user", "a\nb");
  EXPECT_EQ(j.line(), "{\"event\":\"mkdir\",\"bytes\":42,\"ok\":true,\"user\":\"a\\nb\"}\n");
}

}  // namespace
}  // namespace moat
