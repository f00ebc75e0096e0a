// SPDX-License-Identifier: GPL-2.0-or-later
// mod_throttle's arithmetic and its table of running transfers, shared by every
// process of the server; kept apart from the hooks so the unit tests compile it too.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace moat::throttle {

// ---- shares (bytes/s; 0 always means unlimited) ------------------------------------

// The rate one transfer gets of `limit` shared with others whose own caps are
// `others` (water-filling: transfers capped below an equal share leave the rest to
// the others). Never 0 when limit is set, so a limit cannot stop a transfer.
uint64_t fair_share(uint64_t limit, uint64_t my_cap, const std::vector<uint64_t>& others);

struct Limits {
  uint64_t session = 0;  // anon_max_rate or local_max_rate
  uint64_t ip = 0;       // ip_max_rate
  uint64_t server = 0;   // server_max_rate
};

// Caps (session limits) of the other live transfers.
struct Census {
  std::vector<uint64_t> same_address;
  std::vector<uint64_t> everyone;
};

// What host->rate_limit gets: the smallest of the session's limit and its fair
// shares of the per-address and the server-wide limits.
uint64_t transfer_rate(const Limits& limits, const Census& census);

// ---- the shared table --------------------------------------------------------------

// A client address as 16 bytes; IPv4 becomes ::ffff:a.b.c.d so that a client counts
// as one address whichever socket family it reached.
struct AddressKey {
  uint64_t hi = 0, lo = 0;
  bool operator==(const AddressKey&) const = default;
};
AddressKey address_key(const sockaddr_storage& peer);

// One running transfer. `state` packs the owner's tag (24 bits), a ready bit and the
// last heartbeat (39 bits of CLOCK_MONOTONIC milliseconds: 17 years before it wraps);
// 0 is a free slot. One word, so that a claim and its time change in one CAS. The
// other fields belong to the owner and are read under the seqlock rule of census().
struct Slot {
  std::atomic<uint64_t> state{0};
  std::atomic<uint64_t> addr_hi{0}, addr_lo{0};
  std::atomic<uint64_t> cap{0};
};

constexpr std::size_t kSlots = 4096;

// Lives in host->shared_alloc memory (zeroed, MAP_SHARED): everything is an atomic,
// no lock is ever held, so a process killed at any instruction blocks nobody.
struct SharedTable {
  std::atomic<uint32_t> high_water{0};  // slots at or beyond it have never been used
  Slot slots[kSlots];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

struct Registration {
  std::size_t index = 0;
  uint32_t tag = 0;
};

// A registration's owner says it is alive with touch() (every progress hook, about
// twice a second). A slot not touched for stale_ms belongs to a process that died
// without transfer_end (crash, SIGKILL): it no longer counts and may be reclaimed.
// Workers may not call kill(2) (seccomp), so liveness is a heartbeat, not a pid probe.
class Table {
 public:
  static constexpr uint32_t kDefaultStaleMs = 5000;

  explicit Table(SharedTable* shared, uint32_t stale_ms = kDefaultStaleMs)
      : t_(shared), stale_ms_(stale_ms) {}

  // Claims a free or stale slot; nullopt when all kSlots are live. tag: make_tag().
  // now_ms: CLOCK_MONOTONIC in milliseconds (the same clock in every process).
  std::optional<Registration> add(const AddressKey& addr, uint64_t cap, uint32_t tag,
                                  uint64_t now_ms);
  // Heartbeat (and a new cap). False when the slot is no longer ours (it went stale
  // and was reclaimed): the caller registers again.
  bool touch(const Registration& reg, uint64_t cap, uint64_t now_ms);
  void remove(const Registration& reg);
  // The caps of every live transfer except `mine`, all and those from `addr`. Frees
  // the stale slots it meets, so a dead process's transfer is forgotten for good.
  Census census(const AddressKey& addr, const std::optional<Registration>& mine, uint64_t now_ms);
  // Live transfers (tests, and nothing else).
  std::size_t live(uint64_t now_ms) const;

 private:
  bool stale(uint64_t state, uint64_t now_ms) const;
  bool claim(std::size_t i, const AddressKey& addr, uint64_t cap, uint32_t tag, uint64_t now_ms);

  SharedTable* t_;
  uint32_t stale_ms_;
};

// A registration tag (24 bits), unlikely to repeat between processes or within one:
// mixes the pid, a per-process counter and the time. Never 0.
uint32_t make_tag(uint32_t pid, uint32_t counter, uint64_t now_ns);

}  // namespace moat::throttle
