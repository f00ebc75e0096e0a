// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for mod_throttle's arithmetic and shared transfer table
// (modules/mod_throttle/rate_table.cpp): fair shares with 0 meaning unlimited, the
// table's claims, heartbeats and stale reclaim, and processes registering at once.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <new>
#include <set>

#include "modules/mod_throttle/rate_table.hpp"

namespace moat::throttle {
namespace {

constexpr uint64_t kT0 = 1000000;  // a CLOCK_MONOTONIC time in ms, fake

// ---- shares -------------------------------------------------------------------------

TEST(ThrottleShare, NoLimitGivesTheTransfersOwnCap) {
  EXPECT_EQ(fair_share(0, 0, {}), 0u);
  EXPECT_EQ(fair_share(0, 500, {1, 2, 3}), 500u);
}

TEST(ThrottleShare, EqualSplitOfUncappedTransfers) {
  EXPECT_EQ(fair_share(1000, 0, {}), 1000u);
  EXPECT_EQ(fair_share(1000, 0, {0}), 500u);
  EXPECT_EQ(fair_share(1000, 0, {0, 0, 0}), 250u);
  EXPECT_EQ(fair_share(1000, 0, {0, 0}), 333u);  // rounded down: never above the limit
}

TEST(ThrottleShare, NeverZeroWhenALimitIsSet) {
  EXPECT_EQ(fair_share(1, 0, {0, 0, 0, 0}), 1u);
  EXPECT_EQ(fair_share(3, 0, std::vector<uint64_t>(10, 0)), 1u);
  EXPECT_EQ(fair_share(1, 0, {1}), 1u);
}

TEST(ThrottleShare, CappedTransfersLeaveTheirRestToOthers) {
  // One other transfer capped at 100: it takes 100, this one the other 900.
  EXPECT_EQ(fair_share(1000, 0, {100}), 900u);
  // Caps above the equal share change nothing.
  EXPECT_EQ(fair_share(1000, 0, {800}), 500u);
  // Two small caps, two uncapped: (1000 - 100 - 200) / 2.
  EXPECT_EQ(fair_share(1000, 0, {100, 0, 200}), 350u);
  // Our own cap is below our share: we get our cap.
  EXPECT_EQ(fair_share(1000, 100, {0}), 100u);
  // Our cap is above our share: the share.
  EXPECT_EQ(fair_share(1000, 800, {0}), 500u);
  // Everyone capped below the limit: each keeps its cap.
  EXPECT_EQ(fair_share(1000, 300, {100, 200}), 300u);
}

TEST(ThrottleShare, TransferRateIsTheSmallestLimit) {
  EXPECT_EQ(transfer_rate({}, {}), 0u);
  EXPECT_EQ(transfer_rate({5000, 0, 0}, {{0, 0}, {0, 0, 0}}), 5000u);
  // ip_max_rate shared by three transfers from our address.
  EXPECT_EQ(transfer_rate({0, 9000, 0}, {{0, 0}, {0, 0, 0}}), 3000u);
  // The session's own limit is lower than its share.
  EXPECT_EQ(transfer_rate({1000, 9000, 0}, {{0, 0}, {0, 0}}), 1000u);
  // server_max_rate over everyone is the smallest here.
  EXPECT_EQ(transfer_rate({0, 9000, 4000}, {{0}, {0, 0, 0}}), 1000u);
  // Only server_max_rate set.
  EXPECT_EQ(transfer_rate({0, 0, 4000}, {{}, {0}}), 2000u);
  // Limits that round below 1 byte/s still let the transfer move.
  EXPECT_EQ(transfer_rate({0, 1, 1}, {{0, 0}, {0, 0}}), 1u);
}

// ---- addresses and tags --------------------------------------------------------------

sockaddr_storage v4(const char* text) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, text, &in->sin_addr), 1);
  return ss;
}

sockaddr_storage v6(const char* text) {
  sockaddr_storage ss{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
  return ss;
}

TEST(ThrottleAddress, FamiliesAndMappedAddresses) {
  EXPECT_EQ(address_key(v4("192.0.2.1")), address_key(v6("::ffff:192.0.2.1")));
  EXPECT_FALSE(address_key(v4("192.0.2.1")) == address_key(v4("192.0.2.2")));
  EXPECT_FALSE(address_key(v6("2001:db8::1")) == address_key(v6("2001:db8::2")));
  EXPECT_FALSE(address_key(v6("2001:db8::1")) == address_key(v6("2001:db9::1")));
  EXPECT_FALSE(address_key(v4("0.0.0.1")) == address_key(v6("::1")));
  // Ports are not part of the key.
  sockaddr_storage a = v4("192.0.2.1");
  reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(4242);
  EXPECT_EQ(address_key(a), address_key(v4("192.0.2.1")));
  sockaddr_storage unknown{};
  unknown.ss_family = AF_UNIX;
  EXPECT_EQ(address_key(unknown), AddressKey{});
}

TEST(ThrottleTag, NonZeroTwentyFourBitsAndVaried) {
  std::set<uint32_t> seen;
  for (uint32_t i = 0; i < 1000; ++i) {
    const uint32_t tag = make_tag(1234, i, 42);
    EXPECT_NE(tag, 0u);
    EXPECT_LT(tag, 1u << 24);
    seen.insert(tag);
  }
  EXPECT_GT(seen.size(), 990u);
  EXPECT_NE(make_tag(1, 1, 0), make_tag(2, 1, 0));
  EXPECT_NE(make_tag(1, 1, 0), make_tag(1, 1, 1));
}

// ---- the table ------------------------------------------------------------------------

// Zeroed MAP_SHARED memory, as host->shared_alloc gives, so that children see it too.
class SharedMemory {
 public:
  SharedMemory() {
    void* p = mmap(nullptr, sizeof(SharedTable), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    table_ = new (p) SharedTable();
  }
  ~SharedMemory() { munmap(table_, sizeof(SharedTable)); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  SharedTable* get() { return table_; }

 private:
  SharedTable* table_;
};

const AddressKey kAlice = address_key(v4("192.0.2.1"));
const AddressKey kBob = address_key(v4("192.0.2.2"));

TEST(ThrottleTable, AddCountRemove) {
  SharedMemory mem;
  Table t(mem.get());
  auto a1 = t.add(kAlice, 0, 11, kT0);
  auto a2 = t.add(kAlice, 700, 12, kT0);
  auto b1 = t.add(kBob, 0, 13, kT0);
  ASSERT_TRUE(a1 && a2 && b1);
  EXPECT_NE(a1->index, a2->index);
  EXPECT_EQ(t.live(kT0), 3u);

  Census c = t.census(kAlice, a1, kT0);
  EXPECT_EQ(c.same_address, std::vector<uint64_t>{700});
  EXPECT_EQ(c.everyone.size(), 2u);
  Census c2 = t.census(kBob, b1, kT0);
  EXPECT_TRUE(c2.same_address.empty());
  // Without a registration of our own, everyone counts.
  EXPECT_EQ(t.census(kAlice, std::nullopt, kT0).same_address.size(), 2u);

  t.remove(*a2);
  EXPECT_EQ(t.live(kT0), 2u);
  EXPECT_TRUE(t.census(kAlice, a1, kT0).same_address.empty());
  t.remove(*a2);  // twice: nothing more happens
  EXPECT_EQ(t.live(kT0), 2u);
  // The freed slot is the first one taken again.
  auto a3 = t.add(kAlice, 0, 14, kT0);
  ASSERT_TRUE(a3);
  EXPECT_EQ(a3->index, a2->index);
  EXPECT_FALSE(t.touch(*a2, 0, kT0));  // a2's slot belongs to a3 now
  EXPECT_TRUE(t.touch(*a3, 0, kT0));
}

TEST(ThrottleTable, FullTableRefusesThenAcceptsAfterARemove) {
  SharedMemory mem;
  Table t(mem.get());
  std::vector<Registration> regs;
  for (std::size_t i = 0; i < kSlots; ++i) {
    auto r = t.add(kAlice, 0, static_cast<uint32_t>(i + 1), kT0);
    ASSERT_TRUE(r) << i;
    regs.push_back(*r);
  }
  EXPECT_FALSE(t.add(kBob, 0, 99999, kT0));
  EXPECT_EQ(t.live(kT0), kSlots);
  EXPECT_EQ(t.census(kBob, std::nullopt, kT0).everyone.size(), kSlots);
  t.remove(regs[1234]);
  auto r = t.add(kBob, 0, 99999, kT0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 1234u);
}

TEST(ThrottleTable, StaleSlotsStopCountingAndAreReclaimed) {
  SharedMemory mem;
  Table t(mem.get(), 5000);
  auto dead = t.add(kAlice, 0, 21, kT0);
  auto alive = t.add(kAlice, 0, 22, kT0);
  ASSERT_TRUE(dead && alive);
  // The living one keeps touching; the other never does again.
  EXPECT_TRUE(t.touch(*alive, 0, kT0 + 3000));
  EXPECT_EQ(t.census(kBob, std::nullopt, kT0 + 5000).everyone.size(), 2u);  // not yet
  EXPECT_TRUE(t.touch(*alive, 0, kT0 + 5500));
  Census c = t.census(kAlice, alive, kT0 + 5001);
  EXPECT_TRUE(c.same_address.empty());
  EXPECT_EQ(t.live(kT0 + 5001), 1u);
  // The census freed it: a new transfer takes that slot, and the dead owner (had it
  // only been stopped) learns that from touch.
  auto fresh = t.add(kBob, 0, 23, kT0 + 5002);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->index, dead->index);
  EXPECT_FALSE(t.touch(*dead, 0, kT0 + 5003));
  t.remove(*dead);  // removes nothing of fresh's
  EXPECT_EQ(t.live(kT0 + 5003), 2u);
}

TEST(ThrottleTable, StaleSlotIsReclaimedByAddWithoutACensus) {
  SharedMemory mem;
  Table t(mem.get(), 5000);
  auto dead = t.add(kAlice, 0, 31, kT0);
  ASSERT_TRUE(dead);
  auto next = t.add(kAlice, 0, 32, kT0 + 4000);
  ASSERT_TRUE(next);
  EXPECT_NE(next->index, dead->index);  // not stale yet
  auto again = t.add(kAlice, 0, 33, kT0 + 6000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->index, dead->index);
}

TEST(ThrottleTable, HeartbeatsFromAheadOfOurClockAreFresh) {
  // Another process may touch after our clock_gettime: its stamp is ahead of ours.
  SharedMemory mem;
  Table t(mem.get(), 5000);
  auto r = t.add(kAlice, 0, 41, kT0 + 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(t.census(kBob, std::nullopt, kT0).everyone.size(), 1u);
  EXPECT_FALSE(t.add(kBob, 0, 42, kT0).value().index == r->index);
  EXPECT_EQ(t.live(kT0), 2u);
}

// Issue 11, point 6: the table is shared memory a compromised worker can write. A
// slot stamped far in the future must not count for ever.
TEST(ThrottleTable, StampsFromTheFutureAreStale) {
  SharedMemory mem;
  Table t(mem.get(), 5000);
  for (uint64_t ahead : {uint64_t{5000}, uint64_t{3600} * 1000, uint64_t{1} << 37}) {
    auto liar = t.add(kAlice, 1, 61, kT0 + ahead);
    ASSERT_TRUE(liar);
    EXPECT_TRUE(t.census(kBob, std::nullopt, kT0).everyone.empty()) << ahead;
    EXPECT_EQ(t.live(kT0), 0u) << ahead;
  }
}

TEST(ThrottleTable, TouchUpdatesTheCapOthersSee) {
  SharedMemory mem;
  Table t(mem.get());
  auto a = t.add(kAlice, 100, 51, kT0);
  ASSERT_TRUE(a);
  EXPECT_EQ(t.census(kAlice, std::nullopt, kT0).same_address, std::vector<uint64_t>{100});
  EXPECT_TRUE(t.touch(*a, 250, kT0 + 1));
  EXPECT_EQ(t.census(kAlice, std::nullopt, kT0 + 1).same_address, std::vector<uint64_t>{250});
}

TEST(ThrottleTable, OutOfRangeRegistrationsAreIgnored) {
  SharedMemory mem;
  Table t(mem.get());
  EXPECT_FALSE(t.touch(Registration{kSlots, 1}, 0, kT0));
  t.remove(Registration{kSlots + 7, 1});
  EXPECT_EQ(t.live(kT0), 0u);
}

// Two processes register (and some remove) at the same moment; every registration
// gets a slot of its own and the survivors are all counted.
TEST(ThrottleTable, TwoProcessesRegisteringConcurrently) {
  SharedMemory mem;
  constexpr int kEach = 600;
  auto* go =
      static_cast<std::atomic<int>*>(mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                                          MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(go, MAP_FAILED);
  new (go) std::atomic<int>(0);
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    children[c] = fork();
    ASSERT_GE(children[c], 0);
    if (children[c] == 0) {
      Table t(mem.get());
      const AddressKey mine = c == 0 ? kAlice : kBob;
      go->fetch_add(1);
      while (go->load() < 2) {
      }
      int failures = 0;
      for (int i = 0; i < kEach; ++i) {
        auto r = t.add(mine, 0, make_tag(static_cast<uint32_t>(getpid()), i, 0), kT0);
        if (!r) ++failures;
        if (r && i % 3 == 0) t.remove(*r);  // churn while the other adds
      }
      _exit(failures);  // no transfer_end for the rest: as if the process had crashed
    }
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  Table t(mem.get(), 5000);
  constexpr std::size_t kKept = 2 * (kEach - kEach / 3);
  EXPECT_EQ(t.live(kT0), kKept);
  Census c = t.census(kAlice, std::nullopt, kT0);
  EXPECT_EQ(c.everyone.size(), kKept);
  EXPECT_EQ(c.same_address.size(), kKept / 2);
  // Both processes are gone without unregistering: their transfers stop counting.
  EXPECT_TRUE(t.census(kAlice, std::nullopt, kT0 + 5001).everyone.empty());
  EXPECT_EQ(t.live(kT0 + 5001), 0u);
  munmap(go, sizeof(std::atomic<int>));
}

}  // namespace
}  // namespace moat::throttle
