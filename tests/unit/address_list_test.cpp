// SPDX-License-Identifier: GPL-2.0-or-later
// proxy_protocol_from's address/CIDR lists: parsing and matching.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "core/common/address_list.hpp"

namespace moat {
namespace {

sockaddr_storage addr(const std::string& text) {
  sockaddr_storage ss{};
  auto& a4 = reinterpret_cast<sockaddr_in&>(ss);
  auto& a6 = reinterpret_cast<sockaddr_in6&>(ss);
  if (inet_pton(AF_INET, text.c_str(), &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &a6.sin6_addr), 1) << text;
    a6.sin6_family = AF_INET6;
  }
  return ss;
}

TEST(AddressList, EmptyMatchesNothing) {
  auto l = AddressList::parse("  ");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
  EXPECT_FALSE(l->contains(addr("127.0.0.1")));
}

TEST(AddressList, AddressesAndBlocks) {
  auto l = AddressList::parse("127.0.0.2, 10.1.0.0/16,2001:db8::/33 ,192.0.2.128/25");
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_TRUE(l->contains(addr("127.0.0.2")));
  EXPECT_FALSE(l->contains(addr("127.0.0.3")));
  EXPECT_TRUE(l->contains(addr("10.1.255.7")));
  EXPECT_FALSE(l->contains(addr("10.2.0.1")));
  EXPECT_TRUE(l->contains(addr("192.0.2.200")));
  EXPECT_FALSE(l->contains(addr("192.0.2.127")));
  EXPECT_TRUE(l->contains(addr("2001:db8:7fff::1")));
  EXPECT_FALSE(l->contains(addr("2001:db8:8000::1")));
  EXPECT_TRUE(l->contains(addr("::ffff:127.0.0.2")));  // a dual-stack listener's view
}

TEST(AddressList, ZeroPrefixMatchesItsFamily) {
  auto l = AddressList::parse("0.0.0.0/0");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->contains(addr("203.0.113.9")));
  EXPECT_FALSE(l->contains(addr("::1")));
}

TEST(AddressList, BadEntries) {
  for (const char* bad : {"10.0.0.1,,10.0.0.2", "10.0.0.1/33", "::1/129", "10.0.0/8",
                          "10.0.0.1/", "10.0.0.1/-1", "host.example", "10.0.0.1/8x", ","})
    EXPECT_FALSE(AddressList::parse(bad).ok()) << bad;
}

}  // namespace
}  // namespace moat
