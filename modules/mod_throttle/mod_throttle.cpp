// SPDX-License-Identifier: GPL-2.0-or-later
// mod_throttle: bandwidth limits per session (anon_max_rate, local_max_rate), per client
// address (ip_max_rate) and for the server (server_max_rate). The core enforces each
// rate with a token bucket on the data connection; this module only decides the rate,
// from a table of running transfers shared by every worker (rate_table.hpp).
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <new>
#include <optional>

#include "modules/moat_module.h"
#include "modules/mod_throttle/rate_table.hpp"

namespace {

using moat::throttle::AddressKey;
using moat::throttle::Registration;
using moat::throttle::SharedTable;
using moat::throttle::Table;


#define MOAT_MODULE_DEF "modules/mod_throttle/mod_throttle.def"
#include "modules/module_options.inc"

// The master fills host and table in init; each worker (one session, one transfer at a
// time) inherits a copy by fork and keeps its own transfer's registration in it.
struct State {
  const moat_ctx* ctx = nullptr;
  SharedTable* shared = nullptr;
  bool active = false;  // a throttled transfer is running
  AddressKey addr;
  std::optional<Registration> reg;
  uint64_t applied = 0;  // the rate last given to host->rate_limit
  uint32_t tags = 0;     // registrations made by this process
  bool full_logged = false;
};

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t now_ms() { return now_ns() / 1000000u; }

// Read at every call: per-user files (user_config_dir) give each session its values.
unsigned rate_option(const State& s, uint32_t option) {
  return s.ctx->host->opt_uint(s.ctx, option);
}

uint64_t session_rate(const State& s, const moat_session& session) {
  return rate_option(s, session.anonymous ? opt::anon_max_rate : opt::local_max_rate);
}

void register_transfer(State& s, uint64_t cap) {
  const uint32_t tag =
      moat::throttle::make_tag(static_cast<uint32_t>(getpid()), ++s.tags, now_ns());
  s.reg = Table(s.shared).add(s.addr, cap, tag, now_ms());
  // A full table means thousands of transfers: this one is still limited as if it
  // were counted (its own share), it just does not lower the others' shares.
  if (!s.reg && !s.full_logged) s.ctx->host->log(s.ctx, "transfer table full; not counting more");
  s.full_logged = !s.reg;
}

void apply_rate(State& s, uint64_t cap, bool force) {
  const moat::throttle::Limits limits{cap, rate_option(s, opt::ip_max_rate),
                                      rate_option(s, opt::server_max_rate)};
  moat::throttle::Census census;
  if (limits.ip != 0 || limits.server != 0)
    census = Table(s.shared).census(s.addr, s.reg, now_ms());
  const uint64_t rate = moat::throttle::transfer_rate(limits, census);
  if (!force && rate == s.applied) return;
  s.applied = rate;
  s.ctx->host->rate_limit(s.ctx, rate);
}

void end(State& s) {
  if (s.reg) Table(s.shared).remove(*s.reg);
  s.reg.reset();
  s.active = false;
}

void begin(State& s, const moat_session& session, const moat_transfer& xfer) {
  end(s);                                           // in case of a transfer_end never seen
  if (xfer.listing || s.shared == nullptr) return;  // listings are small and not throttled
  s.active = true;
  s.addr = moat::throttle::address_key(session.conn->peer);
  const uint64_t cap = session_rate(s, session);
  register_transfer(s, cap);
  apply_rate(s, cap, true);
}

// Twice a second: the heartbeat that keeps this transfer counted, and a new share if
// transfers from elsewhere started or ended.
void progress(State& s, const moat_session& session) {
  if (!s.active) return;
  const uint64_t cap = session_rate(s, session);
  if (!s.reg || !Table(s.shared).touch(*s.reg, cap, now_ms())) register_transfer(s, cap);
  apply_rate(s, cap, false);
}

// ---- hooks ----------------------------------------------------------------------------

int throttle_init(moat_ctx* ctx) {
  static State state;
  state = State{};
  state.ctx = ctx;
  void* memory = ctx->host->shared_alloc(ctx, sizeof(SharedTable));
  if (memory == nullptr) return 1;
  state.shared = new (memory) SharedTable();
  ctx->state = &state;
  return 0;
}

// Hooks must not throw: the census allocates, and out of memory leaves the rate as is.
void throttle_transfer_begin(moat_ctx* ctx, moat_session* session, const moat_transfer* xfer) {
  if (ctx->state == nullptr) return;
  try {
    begin(*static_cast<State*>(ctx->state), *session, *xfer);
  } catch (...) {
  }
}

void throttle_transfer_progress(moat_ctx* ctx, moat_session* session, const moat_transfer*) {
  if (ctx->state == nullptr) return;
  try {
    progress(*static_cast<State*>(ctx->state), *session);
  } catch (...) {
  }
}

void throttle_transfer_end(moat_ctx* ctx, moat_session*, const moat_transfer*) {
  if (ctx->state == nullptr) return;
  end(*static_cast<State*>(ctx->state));
}

constexpr moat_module make_module() {
  moat_module m = module_base();
  m.init = throttle_init;
  m.transfer_begin = throttle_transfer_begin;
  m.transfer_progress = throttle_transfer_progress;
  m.transfer_end = throttle_transfer_end;
  return m;
}

}  // namespace

MOAT_MODULE(mod_throttle) = make_module();
