// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for mod_iplimit's link messages (modules/mod_iplimit/link_message.cpp), which
// the master decodes from its Redis child and the child from Redis, and ban_file
// (modules/mod_iplimit/ban_file.cpp): round trips, and bad input refused; the Redis
// child's restart delays (modules/mod_iplimit/restart_backoff.cpp).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "modules/mod_iplimit/ban_file.hpp"
#include "modules/mod_iplimit/link_message.hpp"
#include "modules/mod_iplimit/restart_backoff.hpp"

namespace {

TEST(IplimitLink, RoundTrips) {
  for (const LinkMessage& m :
       {LinkMessage{LinkKind::kBan, "192.0.2.7", 1700000000},
        LinkMessage{LinkKind::kCount, "2001:db8::1", 3}, LinkMessage{LinkKind::kUnban, "::1", 0},
        LinkMessage{LinkKind::kFailure, "10.0.0.1", 0}, LinkMessage{LinkKind::kDown, "", 0}}) {
    auto back = link_decode(link_encode(m));
    ASSERT_TRUE(back) << link_encode(m);
    EXPECT_EQ(back->kind, m.kind);
    EXPECT_EQ(back->address, m.address);
    EXPECT_EQ(back->number, m.number);
  }
}

TEST(IplimitLink, AddressesComeBackCanonical) {
  auto m = link_decode("U 0:0::0001");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->address, "::1");
  EXPECT_EQ(link_address("2001:DB8:0::7"), "2001:db8::7");
  EXPECT_FALSE(link_address("example.org"));
}

TEST(IplimitLink, BadMessagesAreRefused) {
  for (const char* text : {"", "X 1.2.3.4", "B", "B ", "B 1.2.3.4", "B 1.2.3.4 ", "B 1.2.3.4 12x",
                           "B 1.2.3.4 -1", "B 1.2.3.4 99999999999999999999999", "B host.example 5",
                           "U 1.2.3.4 5", "F 1.2.3.4 5", "B  1.2.3.4 5", "B 1.2.3.4 5 6", "D x",
                           "R 1.2.3.4", "C 1.2.3.4\n5", "B 1.2.3.4/8 5", "Bx1.2.3.4 5"}) {
    EXPECT_FALSE(link_decode(text)) << text;
  }
  EXPECT_FALSE(link_decode(std::string("U 1.2.3.4\0", 10)));
  EXPECT_FALSE(link_decode("C 1.2.3.4 " + std::string(200, '1')));
}

class BanFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-banfile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/bans";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((path_ + ".tmp").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(BanFileTest, MissingFileIsNoBans) {
  std::string error;
  auto bans = ban_file_load(path_, 100, error);
  ASSERT_TRUE(bans);
  EXPECT_TRUE(bans->empty());
}

TEST_F(BanFileTest, SavedBansComeBackWithoutTheExpiredOnes) {
  const BanList saved{{"192.0.2.1", 200}, {"2001:db8::2", 50}, {"192.0.2.3", 101}};
  ASSERT_EQ(ban_file_save(path_, saved), "");
  std::string error;
  auto bans = ban_file_load(path_, 100, error);
  ASSERT_TRUE(bans);
  EXPECT_EQ(*bans, (BanList{{"192.0.2.1", 200}, {"192.0.2.3", 101}}));
  EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);  // renamed into place
}

TEST_F(BanFileTest, BadLinesAreSkipped) {
  std::ofstream(path_) << "192.0.2.1 200\nnot an address 300\n192.0.2.2\n192.0.2.3 x\n"
                          "\n192.0.2.4 300 extra\n::1 400\n";
  std::string error;
  auto bans = ban_file_load(path_, 100, error);
  ASSERT_TRUE(bans);
  EXPECT_EQ(*bans, (BanList{{"192.0.2.1", 200}, {"::1", 400}}));
}

TEST_F(BanFileTest, UnwritableDirectoryIsAnError) {
  EXPECT_NE(ban_file_save(dir_ + "/missing/bans", {{"192.0.2.1", 200}}), "");
}

// A child that dies at once, again and again: 1 s, doubling, never beyond 60 s, and
// not due before its time.
TEST(IplimitRestart, ChildThatDiesAtOnceWaitsLongerEachTime) {
  RestartBackoff b;
  uint64_t now = 5000;
  b.started(now);
  std::vector<uint64_t> waits;
  for (int i = 0; i < 9; ++i) {
    const uint64_t wait = b.exited(now + 10, false);
    EXPECT_FALSE(b.due(now + 10 + wait - 1));
    EXPECT_TRUE(b.due(now + 10 + wait));
    waits.push_back(wait);
    now += 10 + wait;
    b.started(now);
  }
  EXPECT_EQ(waits, (std::vector<uint64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
                                          60000}));
}

// Only a child that spoke and lived a while starts the waits over: a silent one may
// have died at once, long before the hook that found it gone.
TEST(IplimitRestart, SettledChildStartsTheWaitsOver) {
  RestartBackoff b;
  b.started(0);
  EXPECT_EQ(b.exited(100, false), 1000u);
  b.started(1100);
  EXPECT_EQ(b.exited(1200, true), 2000u);  // spoke, but died within its first minute
  b.started(3200);
  EXPECT_EQ(b.exited(3200 + RestartBackoff::kSettledMs, false), 4000u);  // never spoke
  b.started(100000);
  EXPECT_EQ(b.exited(100000 + RestartBackoff::kSettledMs, true), 1000u);
}

}  // namespace
