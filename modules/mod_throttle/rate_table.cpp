// SPDX-License-Identifier: GPL-2.0-or-later
// mod_throttle's fair shares and its lock-free table of running transfers (the
// layout and the liveness rule are explained in rate_table.hpp).
#include "modules/mod_throttle/rate_table.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace moat::throttle {
namespace {

constexpr unsigned kStampBits = 39;
constexpr uint64_t kStampMask = (uint64_t{1} << kStampBits) - 1;
constexpr uint64_t kReady = uint64_t{1} << kStampBits;
constexpr unsigned kTagShift = kStampBits + 1;
constexpr uint32_t kTagMask = (uint32_t{1} << (64 - kTagShift)) - 1;
// A heartbeat up to this far "ahead" of our clock is a fresh one another process took
// after our clock_gettime. Anything further ahead is a lie (the table is writable by
// every post-login worker, a compromised one included): stale at once, or a slot
// stamped in the future would cut every transfer's share for good.
constexpr uint64_t kMaxAheadMs = 1000;
// Reads of one slot that keep meeting a change give up: the slot is churning.
constexpr int kReadAttempts = 3;

uint64_t pack(uint32_t tag, bool ready, uint64_t now_ms) {
  return (uint64_t{tag} << kTagShift) | (ready ? kReady : 0) | (now_ms & kStampMask);
}
uint32_t tag_of(uint64_t state) { return static_cast<uint32_t>(state >> kTagShift); }
bool ready(uint64_t state) { return (state & kReady) != 0; }
// Tag and ready bit: what says whose data a slot holds (the heartbeat aside).
uint64_t owner_of(uint64_t state) { return state >> kStampBits; }

uint64_t min_limit(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

uint64_t load_be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct SlotView {
  uint64_t state = 0;
  AddressKey addr;
  uint64_t cap = 0;
};

}  // namespace

// ---- shares ------------------------------------------------------------------------

uint64_t fair_share(uint64_t limit, uint64_t my_cap, const std::vector<uint64_t>& others) {
  if (limit == 0) return my_cap;
  std::vector<uint64_t> capped;
  for (uint64_t c : others) {
    if (c != 0) capped.push_back(c);
  }
  if (my_cap != 0) capped.push_back(my_cap);
  std::sort(capped.begin(), capped.end());
  // Transfers capped below the equal share of what is left keep their cap; the rest
  // split the remainder evenly.
  uint64_t left = limit;
  uint64_t sharing = others.size() + 1;
  for (uint64_t c : capped) {
    if (c > left / sharing) break;
    left -= c;
    --sharing;
  }
  if (sharing == 0) return my_cap;  // everyone is capped below the limit
  const uint64_t level = std::max<uint64_t>(1, left / sharing);
  return min_limit(my_cap, level);
}

uint64_t transfer_rate(const Limits& limits, const Census& census) {
  uint64_t rate = limits.session;
  rate = min_limit(rate, fair_share(limits.ip, limits.session, census.same_address));
  return min_limit(rate, fair_share(limits.server, limits.session, census.everyone));
}

// ---- addresses and tags -----------------------------------------------------------

AddressKey address_key(const sockaddr_storage& peer) {
  AddressKey key;
  if (peer.ss_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &peer, sizeof in);
    key.lo = (uint64_t{0xffff} << 32) | ntohl(in.sin_addr.s_addr);
  } else if (peer.ss_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &peer, sizeof in6);
    key.hi = load_be64(in6.sin6_addr.s6_addr);
    key.lo = load_be64(in6.sin6_addr.s6_addr + 8);
  }
  return key;
}

uint32_t make_tag(uint32_t pid, uint32_t counter, uint64_t now_ns) {
  const uint64_t mixed = splitmix64((uint64_t{pid} << 32 | counter) ^ splitmix64(now_ns));
  const uint32_t tag = static_cast<uint32_t>(mixed) & kTagMask;
  return tag == 0 ? 1 : tag;
}

// ---- the table --------------------------------------------------------------------

bool Table::stale(uint64_t state, uint64_t now_ms) const {
  const uint64_t age = (now_ms - state) & kStampMask;
  const bool ahead = age > kStampMask - kMaxAheadMs;  // (now - stamp) wrapped: a stamp > now
  return age > stale_ms_ && !ahead;
}

// A free or stale slot becomes ours in one CAS (not ready: nobody counts it yet); our
// fields are written; then one more CAS publishes it. The release fence keeps the
// field stores after the claim, which census's re-check relies on.
bool Table::claim(std::size_t i, const AddressKey& addr, uint64_t cap, uint32_t tag,
                  uint64_t now_ms) {
  Slot& slot = t_->slots[i];
  uint64_t seen = slot.state.load(std::memory_order_acquire);
  if (seen != 0 && !stale(seen, now_ms)) return false;
  const uint64_t claimed = pack(tag, false, now_ms);
  if (!slot.state.compare_exchange_strong(seen, claimed, std::memory_order_acq_rel)) return false;
  std::atomic_thread_fence(std::memory_order_release);
  slot.addr_hi.store(addr.hi, std::memory_order_relaxed);
  slot.addr_lo.store(addr.lo, std::memory_order_relaxed);
  slot.cap.store(cap, std::memory_order_relaxed);
  uint64_t expected = claimed;
  return slot.state.compare_exchange_strong(expected, claimed | kReady, std::memory_order_release);
}

std::optional<Registration> Table::add(const AddressKey& addr, uint64_t cap, uint32_t tag,
                                       uint64_t now_ms) {
  tag &= kTagMask;
  for (std::size_t i = 0; i < kSlots; ++i) {
    if (!claim(i, addr, cap, tag, now_ms)) continue;
    uint32_t hw = t_->high_water.load(std::memory_order_relaxed);
    const auto want = static_cast<uint32_t>(i + 1);
    while (hw < want &&
           !t_->high_water.compare_exchange_weak(hw, want, std::memory_order_release)) {
    }
    return Registration{i, tag};
  }
  return std::nullopt;
}

bool Table::touch(const Registration& reg, uint64_t cap, uint64_t now_ms) {
  if (reg.index >= kSlots) return false;
  Slot& slot = t_->slots[reg.index];
  uint64_t seen = slot.state.load(std::memory_order_acquire);
  for (;;) {
    if (tag_of(seen) != reg.tag || !ready(seen)) return false;
    slot.cap.store(cap, std::memory_order_relaxed);
    if (slot.state.compare_exchange_weak(seen, pack(reg.tag, true, now_ms),
                                         std::memory_order_acq_rel))
      return true;
  }
}

void Table::remove(const Registration& reg) {
  if (reg.index >= kSlots) return;
  Slot& slot = t_->slots[reg.index];
  uint64_t seen = slot.state.load(std::memory_order_acquire);
  while (tag_of(seen) == reg.tag &&
         !slot.state.compare_exchange_weak(seen, 0, std::memory_order_acq_rel)) {
  }
}

namespace {

// A consistent view of a published slot, or nullopt (free, being claimed, churning).
// Seqlock rule: the fields read between two loads of state belong to the owner both
// loads name; a reclaim in between changes the owner bits.
std::optional<SlotView> read_slot(const Slot& slot, uint64_t state) {
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    if (state == 0 || !ready(state)) return std::nullopt;
    SlotView v;
    v.state = state;
    v.addr.hi = slot.addr_hi.load(std::memory_order_relaxed);
    v.addr.lo = slot.addr_lo.load(std::memory_order_relaxed);
    v.cap = slot.cap.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t again = slot.state.load(std::memory_order_relaxed);
    if (owner_of(again) == owner_of(state)) return v;
    state = slot.state.load(std::memory_order_acquire);
  }
  return std::nullopt;
}

}  // namespace

Census Table::census(const AddressKey& addr, const std::optional<Registration>& mine,
                     uint64_t now_ms) {
  Census out;
  const std::size_t used =
      std::min<std::size_t>(t_->high_water.load(std::memory_order_acquire), kSlots);
  for (std::size_t i = 0; i < used; ++i) {
    Slot& slot = t_->slots[i];
    uint64_t state = slot.state.load(std::memory_order_acquire);
    if (state != 0 && stale(state, now_ms)) {
      slot.state.compare_exchange_strong(state, 0, std::memory_order_acq_rel);
      continue;
    }
    if (mine && mine->index == i && tag_of(state) == mine->tag) continue;
    const auto view = read_slot(slot, state);
    if (!view || stale(view->state, now_ms)) continue;
    out.everyone.push_back(view->cap);
    if (view->addr == addr) out.same_address.push_back(view->cap);
  }
  return out;
}

std::size_t Table::live(uint64_t now_ms) const {
  std::size_t n = 0;
  for (const Slot& slot : t_->slots) {
    const uint64_t state = slot.state.load(std::memory_order_acquire);
    if (ready(state) && !stale(state, now_ms)) ++n;
  }
  return n;
}

}  // namespace moat::throttle
