// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for privsep/users: passwd/group lookups and name-list files.
#include "core/common/users.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace moat {
namespace {

bool contains(const std::vector<gid_t>& v, gid_t g) {
  return std::find(v.begin(), v.end(), g) != v.end();
}

TEST(UsersLookup, Root) {
  auto u = user_lookup("root");
  ASSERT_TRUE(u.ok()) << u.error();
  EXPECT_EQ(u->name, "root");
  EXPECT_EQ(u->uid, 0u);
  EXPECT_EQ(u->gid, 0u);
  EXPECT_EQ(u->home, "/root");
  EXPECT_FALSE(u->shell.empty());
  EXPECT_TRUE(contains(u->groups, 0));
}

TEST(UsersLookup, Nobody) {
  auto u = user_lookup("nobody");
  ASSERT_TRUE(u.ok()) << u.error();
  EXPECT_EQ(u->uid, 65534u);
  EXPECT_TRUE(contains(u->groups, u->gid)) << "primary group must be in the list";
}

TEST(UsersLookup, UnknownUser) {
  auto u = user_lookup("no-such-user-moat");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error(), "unknown user 'no-such-user-moat'");
  EXPECT_FALSE(user_lookup("").ok());
  EXPECT_FALSE(user_lookup(std::string("root\0x", 6)).ok()) << "embedded NUL must not match root";
}

class UsersNameList : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-names-XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) {
    FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  std::string path_;
};

TEST_F(UsersNameList, TrimsAndSkipsCommentsAndBlanks) {
  write(
      "# deny these\nroot\n\n  daemon \t\n\t# indented comment\r\nbin\r\n   "
      "\nlast-without-newline");
  auto names = read_name_list(path_);
  ASSERT_TRUE(names.ok()) << names.error();
  EXPECT_EQ(*names, (std::vector<std::string>{"root", "daemon", "bin", "last-without-newline"}));
}

TEST_F(UsersNameList, EmptyFileIsEmptyList) {
  write("");
  auto names = read_name_list(path_);
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST(UsersNameListErrors, MissingFileNamesPathAndReason) {
  auto names = read_name_list("/nonexistent/moat/user_list");
  ASSERT_FALSE(names.ok());
  EXPECT_NE(names.error().find("/nonexistent/moat/user_list"), std::string::npos);
  EXPECT_NE(names.error().find("No such file or directory"), std::string::npos);
}

TEST(UsersNameListErrors, DirectoryIsAnError) {
  auto names = read_name_list("/tmp");
  ASSERT_FALSE(names.ok());
  EXPECT_NE(names.error().find("/tmp"), std::string::npos);
}

}  // namespace
}  // namespace moat
