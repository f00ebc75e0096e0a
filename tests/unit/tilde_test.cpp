// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for tilde expansion of path arguments (vsftpd's resolve_tilde rules).
#include "core/session/tilde.hpp"

#include <gtest/gtest.h>

namespace moat {
namespace {

UserDb homes() {
  UserDb db;
  db.homes = {{"bob", "/home/bob"}};
  return db;
}

TEST(Tilde, AloneIsTheLoginDirectory) {
  EXPECT_EQ(tilde_expand("~", "/home/alice", nullptr), "/home/alice");
  EXPECT_EQ(tilde_expand("~/a/b", "/home/alice", nullptr), "/home/alice/a/b");
}

TEST(Tilde, UserNeedsTheTable) {
  const UserDb db = homes();
  EXPECT_EQ(tilde_expand("~bob", "/", &db), "/home/bob");
  EXPECT_EQ(tilde_expand("~bob/", "/", &db), "/home/bob/");
  EXPECT_EQ(tilde_expand("~bob/x/y", "/", &db), "/home/bob/x/y");
  EXPECT_EQ(tilde_expand("~bob/x", "/", nullptr), "~bob/x");  // off, or chrooted
}

TEST(Tilde, OtherArgumentsUnchanged) {
  const UserDb db = homes();
  EXPECT_EQ(tilde_expand("~nobody/x", "/", &db), "~nobody/x");
  EXPECT_EQ(tilde_expand("a~bob", "/", &db), "a~bob");
  EXPECT_EQ(tilde_expand("", "/", &db), "");
  EXPECT_EQ(tilde_expand("/~bob", "/", &db), "/~bob");
}

TEST(Tilde, OnlyVsftpdsVerbs) {
  EXPECT_TRUE(tilde_verb("CWD"));
  EXPECT_TRUE(tilde_verb("RETR"));
  EXPECT_FALSE(tilde_verb("MDTM"));
  EXPECT_FALSE(tilde_verb("SITE"));
}

}  // namespace
}  // namespace moat
