// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/proctitle: escaping of client text and the titles --who reads back.
#include "core/common/proctitle.hpp"

#include <gtest/gtest.h>

namespace moat {
namespace {

TEST(Proctitle, EscapesWhatCouldForgeALineOrAField) {
  EXPECT_EQ(proctitle_escape("a b/c.iso"), "a b/c.iso");
  EXPECT_EQ(proctitle_escape("x\ny\r\t\x7f\xc3\xa9"), "x\\x0ay\\x0d\\x09\\x7f\\xc3\\xa9");
  EXPECT_EQ(proctitle_escape("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(proctitle_escape("a: b"), "a: b");
  EXPECT_EQ(proctitle_escape("a: b", true), "a\\x3a b");
  EXPECT_EQ(proctitle_user("alice", false), "alice");
  EXPECT_EQ(proctitle_user("ftp", true), "<anonymous>");
}

TEST(Proctitle, Shapes) {
  EXPECT_EQ(proctitle_session("203.0.113.7", ""), "moatftpd: 203.0.113.7: connected");
  EXPECT_EQ(proctitle_session("203.0.113.7", "alice"), "moatftpd: 203.0.113.7: alice");
  EXPECT_EQ(proctitle_worker("203.0.113.7", "alice", "", "", -1),
            "moatftpd: 203.0.113.7: alice: IDLE");
  EXPECT_EQ(proctitle_worker("203.0.113.7", "alice", "RETR", "x.iso", 42),
            "moatftpd: 203.0.113.7: alice: RETR x.iso (42 bytes)");
  EXPECT_EQ(proctitle_worker("::1", "alice", "LIST", "", 0),
            "moatftpd: ::1: alice: LIST (0 bytes)");
}

TEST(Proctitle, ParsesWhatItWrites) {
  TitleFields f;
  ASSERT_TRUE(proctitle_parse(
      proctitle_worker("2001:db8::", proctitle_user("a: b", false), "RETR", "y (7 bytes): z", 9),
      f));
  EXPECT_EQ(f.user, "a\\x3a b");
  EXPECT_EQ(f.state, "RETR");
  EXPECT_EQ(f.arg, "y (7 bytes): z");
  EXPECT_EQ(f.bytes, 9);
  TitleFields idle;
  ASSERT_TRUE(proctitle_parse("moatftpd: 127.0.0.1: bob: IDLE", idle));
  EXPECT_EQ(idle.state, "IDLE");
  EXPECT_EQ(idle.bytes, -1);
  TitleFields none;
  EXPECT_FALSE(proctitle_parse("moatftpd: 127.0.0.1: bob", none));
  EXPECT_FALSE(proctitle_parse("/usr/sbin/moatftpd /etc/ftpd.conf", none));
}

TEST(Proctitle, SetWritesOverArgvAndPadsWithNul) {
  static char block[] = "prog\0arg1\0";  // the area: 10 bytes, room for 9 and a NUL
  char* argv[] = {block, block + 5, nullptr};
  proctitle_init(2, argv);
  proctitle_set("moatftpd: x");
  EXPECT_EQ(std::string(block, 10), std::string("moatftpd:\0", 10));
}

}  // namespace
}  // namespace moat
