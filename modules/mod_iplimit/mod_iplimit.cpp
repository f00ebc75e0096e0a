// SPDX-License-Identifier: GPL-2.0-or-later
// mod_iplimit: max_clients and max_per_ip with vsftpd's replies, enforced by the master
// before it forks (a refused client costs no process), and bans of addresses after
// repeated failed logins. All state lives in the master; it uses only the host table.
// With iplimit_backend=redis the master also shares bans and per-address counts through
// a child process (redis_link.hpp): the local table stays the authority the master
// decides from, and Redis only adds what the other nodes know. A child that dies is
// started again from the next hook, after a growing wait (restart_backoff.hpp).
#include <pwd.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "modules/moat_module.h"
#include "modules/mod_iplimit/ban_file.hpp"
#include "modules/mod_iplimit/redis_child.hpp"
#include "modules/mod_iplimit/redis_link.hpp"
#include "modules/mod_iplimit/restart_backoff.hpp"

namespace {

constexpr char kTooManyClients[] = "421 There are too many connected users, please try later.";
constexpr char kTooManyFromAddress[] =
    "421 There are too many connections from your internet address.";
constexpr char kBanned[] =
    "421 Too many failed logins from your internet address, please try later.";
// Addresses with failed logins remembered at once; beyond it new ones are not
// tracked (and that is logged), so a flood of addresses cannot grow the master.
constexpr std::size_t kMaxTracked = 65536;

uint32_t g_nopriv_user = 0;        // the Redis child runs as nopriv_user
uint32_t g_secure_chroot_dir = 0;  // and is chrooted there
#define MOAT_MODULE_DEF "modules/mod_iplimit/mod_iplimit.def"
#define MOAT_MODULE_CORE_OPTIONS                                                      \
  {"nopriv_user", MOAT_OPT_STRING, nullptr, nullptr, &g_nopriv_user, MOAT_OPT_CORE}, \
      {"secure_chroot_dir", MOAT_OPT_STRING, nullptr, nullptr, &g_secure_chroot_dir, MOAT_OPT_CORE},
#include "modules/module_options.inc"

// Times are milliseconds of CLOCK_MONOTONIC: wall-clock steps change no ban.
struct Failures {
  std::deque<uint64_t> times;  // of failed logins within the window, oldest first
  uint64_t banned_until = 0;
};

// Why this node decides alone, if it does: logged here when it changes, since the
// child's own lines go only to stderr.
enum class Alone { kNo, kRedisDown, kChildGone };

// What the master did while no child ran, for the next one to write to Redis: a
// session count that fell to 0 (else this node's stale share refuses clients on the
// others) and an operator's unban (else the new child relearns the ban from Redis).
struct Missed {
  std::set<std::string> zero_counts, unbans;
};

struct State {
  const moat_ctx* ctx = nullptr;
  unsigned clients = 0;
  std::map<std::string, unsigned> per_address;
  std::map<std::string, Failures> failures;
  bool full_logged = false;
  RedisLink redis;                         // iplimit_backend=redis: the child, else idle
  std::optional<RedisSettings> settings;   // the child's, resolved once: a restart looks
                                           // nothing up (no NSS call in the master's loop)
  RestartBackoff restarts;
  Alone alone = Alone::kNo;
  Missed missed;
  std::map<std::string, unsigned> others;  // sessions per address on the other nodes
};

// Read at each hook, so a SIGHUP reload of the values takes effect at once.
struct Limits {
  unsigned max_clients, max_per_ip, max_failures, window, ban_time;
};

unsigned number(const moat_ctx* ctx, uint32_t option) { return ctx->host->opt_uint(ctx, option); }
std::string text(const moat_ctx* ctx, uint32_t option) { return ctx->host->opt_string(ctx, option); }

Limits limits(const moat_ctx* ctx) {
  return {number(ctx, opt::max_clients), number(ctx, opt::max_per_ip),
          number(ctx, opt::max_login_failures_per_ip), number(ctx, opt::login_failure_window),
          number(ctx, opt::login_ban_time)};
}

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t ms(unsigned seconds) { return uint64_t{seconds} * 1000; }

void log_line(const State& s, const std::string& line) { s.ctx->host->log(s.ctx, line.c_str()); }

int refuse(char* reply, size_t len, const char* text) {
  std::snprintf(reply, len, "%s", text);
  return MOAT_REFUSE;
}

uint64_t unix_now() { return static_cast<uint64_t>(time(nullptr)); }

// ---- bans ---------------------------------------------------------------------------

BanList current_bans(const State& s) {
  const uint64_t now = now_ms(), wall = unix_now();
  BanList out;
  for (const auto& [address, f] : s.failures)
    if (f.banned_until > now) out[address] = wall + (f.banned_until - now + 999) / 1000;
  return out;
}

void save_bans(const State& s) {
  const std::string path = text(s.ctx, opt::ban_file);
  if (path.empty()) return;
  const std::string error = ban_file_save(path, current_bans(s));
  if (!error.empty()) log_line(s, "ban_file: " + error);
}

void forget_old(Failures& f, uint64_t now, unsigned window) {
  while (!f.times.empty() && f.times.front() + ms(window) <= now) f.times.pop_front();
}

void prune(State& s, uint64_t now, unsigned window) {
  for (auto it = s.failures.begin(); it != s.failures.end();) {
    forget_old(it->second, now, window);
    const bool idle = it->second.times.empty() && it->second.banned_until <= now;
    it = idle ? s.failures.erase(it) : std::next(it);
  }
}

Failures* failures_of(State& s, const std::string& address, uint64_t now, unsigned window) {
  auto it = s.failures.find(address);
  if (it != s.failures.end()) return &it->second;
  if (s.failures.size() >= kMaxTracked) prune(s, now, window);
  if (s.failures.size() >= kMaxTracked) {
    if (!s.full_logged) log_line(s, "too many addresses with failed logins; not tracking more");
    s.full_logged = true;
    return nullptr;
  }
  s.full_logged = false;
  return &s.failures[address];
}

bool banned(const State& s, const std::string& address, uint64_t now) {
  auto it = s.failures.find(address);
  return it != s.failures.end() && it->second.banned_until > now;
}

void count_failure(State& s, const std::string& address, const char* user) {
  const Limits l = limits(s.ctx);
  if (l.max_failures == 0 || l.ban_time == 0) return;
  const uint64_t now = now_ms();
  Failures* f = failures_of(s, address, now, l.window);
  if (f == nullptr) return;
  forget_old(*f, now, l.window);
  f->times.push_back(now);
  if (f->times.size() < l.max_failures) return;
  f->times.clear();
  f->banned_until = now + ms(l.ban_time);
  log_line(s, "banned " + address + " for " + std::to_string(l.ban_time) + " s after " +
                  std::to_string(l.max_failures) + " failed logins within " +
                  std::to_string(l.window) + " s (last user '" + std::string(user) + "')");
  save_bans(s);
  s.redis.send({LinkKind::kBan, address, unix_now() + l.ban_time});
}

// A ban known elsewhere (Redis, the ban file) with its expiry in Unix seconds; a
// later expiry than the one held wins. False when it changed nothing.
bool learn_ban(State& s, const std::string& address, uint64_t expiry) {
  const uint64_t now = now_ms(), wall = unix_now();
  if (expiry <= wall) return false;
  Failures* f = failures_of(s, address, now, limits(s.ctx).window);
  constexpr uint64_t kLongest = uint64_t{1} << 32;  // seconds; login_ban_time is 32 bits
  const uint64_t until = now + std::min(expiry - wall, kLongest) * 1000;
  if (f == nullptr || f->banned_until >= until) return false;
  f->banned_until = until;
  return true;
}

bool lift_ban(State& s, const std::string& address) {
  auto it = s.failures.find(address);
  if (it == s.failures.end() || it->second.banned_until <= now_ms()) return false;
  s.failures.erase(it);
  return true;
}

// Bounded as the failure table is: a flood of addresses on other nodes cannot grow
// the master; an address beyond the bound is counted by its own node only.
void note_others(State& s, const std::string& address, uint64_t n) {
  if (n == 0) {
    s.others.erase(address);
  } else if (s.others.size() < kMaxTracked || s.others.contains(address)) {
    s.others[address] = static_cast<unsigned>(std::min<uint64_t>(n, 1u << 20));
  }
}

std::string seconds(uint64_t ms) { return std::to_string(ms / 1000) + " s"; }

void redis_down(State& s) {  // the other nodes' counts go stale; bans stay
  s.others.clear();
  if (s.alone != Alone::kRedisDown)
    log_line(s, "redis unreachable: this node's table decides; bans kept");
  s.alone = Alone::kRedisDown;
}

void redis_up(State& s) {
  if (s.alone == Alone::kRedisDown) log_line(s, "redis reachable again: sharing bans and counts");
  if (s.alone == Alone::kChildGone)
    log_line(s, "redis child restarted and connected: sharing bans and counts again");
  s.alone = Alone::kNo;
}

void child_exited(State& s) {
  s.others.clear();
  s.alone = Alone::kChildGone;
  const uint64_t wait = s.restarts.exited(now_ms(), s.redis.spoke());
  log_line(s, "redis child exited: this node counts and bans alone; restarting it in " +
                  seconds(wait));
}

// What the Redis child has said since the last hook: the master has no event of its
// own to wait on it, and needs to know only when it decides.
void drain_child(State& s) {
  bool changed = false;
  for (const LinkMessage& m : s.redis.drain()) {
    switch (m.kind) {
      case LinkKind::kBan:
        changed |= learn_ban(s, m.address, m.number);
        break;
      case LinkKind::kUnban:
        changed |= lift_ban(s, m.address);
        break;
      case LinkKind::kCount:
        note_others(s, m.address, m.number);
        break;
      case LinkKind::kDown:
        redis_down(s);
        break;
      case LinkKind::kUp:
        redis_up(s);
        break;
      default:
        break;
    }
  }
  if (changed) save_bans(s);
}

// A new child knows nothing: it is told every ban and count of this node (and what it
// missed), and relearns from Redis the bans the other nodes made.
std::optional<std::string> start_child(State& s) {
  if (auto error = RedisLink::start(*s.settings, s.redis)) return error;
  s.restarts.started(now_ms());
  for (const auto& [address, expiry] : current_bans(s))
    s.redis.send({LinkKind::kBan, address, expiry});
  for (const auto& [address, n] : s.per_address) s.redis.send({LinkKind::kCount, address, n});
  for (const auto& address : s.missed.zero_counts) s.redis.send({LinkKind::kCount, address, 0});
  for (const auto& address : s.missed.unbans) s.redis.send({LinkKind::kUnban, address, 0});
  s.missed = Missed{};
  return std::nullopt;
}

// The ABI gives a module no timer: a restart that is due happens at the next hook, in
// the master's loop, and costs it one fork (the child enters its sandbox on its own).
void restart_child(State& s) {
  if (s.redis.running() || !s.settings || !s.restarts.due(now_ms())) return;
  if (auto error = start_child(s)) {
    const uint64_t wait = s.restarts.exited(now_ms(), false);
    log_line(s, "redis child not restarted: " + *error + "; trying again in " + seconds(wait));
    return;
  }
  log_line(s, "redis child restarted (pid " + std::to_string(s.redis.pid()) + ")");
}

void sync(State& s) {
  const bool was_running = s.redis.running();
  drain_child(s);
  if (was_running && !s.redis.running()) child_exited(s);
  restart_child(s);
}

// Bounded as the failure table is; beyond it, the count expires in Redis on its own.
void note_missed(std::set<std::string>& missed, const std::string& address) {
  if (missed.size() < kMaxTracked) missed.insert(address);
}

void tell_count(State& s, const std::string& address) {
  auto it = s.per_address.find(address);
  const unsigned n = it == s.per_address.end() ? 0 : it->second;
  if (!s.redis.send({LinkKind::kCount, address, n}) && n == 0 && s.settings)
    note_missed(s.missed.zero_counts, address);
}

// ---- hooks ----------------------------------------------------------------------------

int load_bans(State& s) {
  const std::string path = text(s.ctx, opt::ban_file);
  if (path.empty()) return 0;
  std::string error;
  auto bans = ban_file_load(path, unix_now(), error);
  if (!bans) {
    log_line(s, "ban_file: " + error);
    return 1;
  }
  for (const auto& [address, expiry] : *bans) learn_ban(s, address, expiry);
  if (!bans->empty()) log_line(s, std::to_string(bans->size()) + " bans restored from " + path);
  return 0;
}

// "IPV4:PORT" or "[IPV6]:PORT".
bool parse_redis_address(const std::string& text, RedisSettings& out) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (!link_address(host)) return false;
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  out.host = host;
  out.port = static_cast<unsigned>(std::stoul(port));
  return out.port > 0 && out.port < 65536;
}

std::optional<RedisSettings> redis_settings(const State& s) {
  const moat_ctx* ctx = s.ctx;
  RedisSettings r;
  if (!parse_redis_address(text(ctx, opt::iplimit_redis_address), r)) return std::nullopt;
  const passwd* pw = getpwnam(text(ctx, g_nopriv_user).c_str());
  if (pw == nullptr) {
    log_line(s, "iplimit_backend=redis: nopriv_user " + text(ctx, g_nopriv_user) +
                    " not found (the Redis child runs as it)");
    return std::nullopt;
  }
  const Limits l = limits(ctx);
  r.prefix = text(ctx, opt::iplimit_redis_prefix);
  r.timeout_ms = number(ctx, opt::iplimit_redis_timeout);
  r.count_ttl = number(ctx, opt::iplimit_redis_count_ttl);
  r.failure_window = l.window;
  r.chroot_dir = text(ctx, g_secure_chroot_dir);
  r.max_failures = l.max_failures;
  r.ban_time = l.ban_time;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  r.log = [ctx](const std::string& line) { ctx->host->log(ctx, line.c_str()); };
  return r;
}

// What check() has refused stops start-up before init: here the values are good.
int start_backend(State& s) {
  if (text(s.ctx, opt::iplimit_backend) == "local") return 0;
  s.settings = redis_settings(s);
  if (!s.settings) return 1;
  if (auto error = start_child(s)) {
    log_line(s, "iplimit_backend=redis: " + *error);
    return 1;
  }
  return 0;
}

// ---- check (moatftpd -t, start-up, reload) -------------------------------------------

// The smallest values the Redis child can work with: a timeout of 0 ms would give up
// before asking, and counts are refreshed every third of their TTL.
constexpr unsigned kMinRedisTimeout = 1;
constexpr unsigned kMinCountTtl = 3;

bool check_at_least(const moat_ctx* ctx, uint32_t option, unsigned least) {
  if (number(ctx, option) >= least) return true;
  const std::string why = "must be at least " + std::to_string(least);
  ctx->host->check_error(ctx, option, why.c_str());
  return false;
}

bool check_redis(const moat_ctx* ctx) {
  bool ok = true;
  if (!redis_backend_built()) {
    ctx->host->check_error(ctx, opt::iplimit_backend,
                           "redis: moatftpd was built without hiredis (--without-hiredis)");
    ok = false;
  }
  RedisSettings r;
  if (!parse_redis_address(text(ctx, opt::iplimit_redis_address), r)) {
    ctx->host->check_error(ctx, opt::iplimit_redis_address,
                           ("'" + text(ctx, opt::iplimit_redis_address) +
                            "' is not IPV4:PORT or [IPV6]:PORT").c_str());
    ok = false;
  }
  ok = check_at_least(ctx, opt::iplimit_redis_timeout, kMinRedisTimeout) && ok;
  return check_at_least(ctx, opt::iplimit_redis_count_ttl, kMinCountTtl) && ok;
}

int iplimit_check(moat_ctx* ctx) {
  try {
    const std::string backend = text(ctx, opt::iplimit_backend);
    if (backend == "local") return 0;
    if (backend == "redis") return check_redis(ctx) ? 0 : 1;
    ctx->host->check_error(ctx, opt::iplimit_backend,
                           ("must be local or redis, not '" + backend + "'").c_str());
  } catch (...) {  // out of memory: nothing is known to be good
  }
  return 1;
}

// One master, one init: the state is the module's own static object, so nothing of it
// is left behind when a test unloads the module.
int iplimit_init(moat_ctx* ctx) {
  static State state;
  state = State{};
  state.ctx = ctx;
  ctx->state = &state;
  try {
    if (const int rc = load_bans(state); rc != 0) return rc;
    return start_backend(state);
  } catch (...) {
    return 1;
  }
}

int admit_checked(State& s, const moat_conn& conn, char* reply, size_t len) {
  const Limits l = limits(s.ctx);
  const std::string address = conn.peer_text;
  sync(s);
  if (banned(s, address, now_ms())) return refuse(reply, len, kBanned);
  if (l.max_clients > 0 && s.clients >= l.max_clients) return refuse(reply, len, kTooManyClients);
  unsigned& mine = s.per_address[address];
  const auto theirs = s.others.find(address);
  const unsigned all = mine + (theirs == s.others.end() ? 0 : theirs->second);
  if (l.max_per_ip > 0 && all >= l.max_per_ip) {
    if (mine == 0) s.per_address.erase(address);
    return refuse(reply, len, kTooManyFromAddress);
  }
  ++mine;
  ++s.clients;
  tell_count(s, address);
  return MOAT_CONTINUE;
}

State& state_of(const moat_ctx* ctx) { return *static_cast<State*>(ctx->state); }

int iplimit_admit(moat_ctx* ctx, const moat_conn* conn, char* reply, size_t len) {
  try {
    return admit_checked(state_of(ctx), *conn, reply, len);
  } catch (...) {  // out of memory: refuse rather than admit uncounted
    return refuse(reply, len, "421 Service not available.");
  }
}

void iplimit_session_closed(moat_ctx* ctx, const moat_conn* conn) {
  State& s = state_of(ctx);
  if (s.clients > 0) --s.clients;
  auto it = s.per_address.find(conn->peer_text);
  if (it == s.per_address.end()) return;
  if (--it->second == 0) s.per_address.erase(it);
  try {
    sync(s);
    tell_count(s, conn->peer_text);
  } catch (...) {  // out of memory: the other nodes see this count until it expires
  }
}

void iplimit_login_failed(moat_ctx* ctx, const moat_conn* conn, const char* user) {
  try {
    State& s = state_of(ctx);
    sync(s);
    s.redis.send({LinkKind::kFailure, conn->peer_text, 0});
    count_failure(s, conn->peer_text, user);
  } catch (...) {  // out of memory: this failure goes uncounted
  }
}

// ---- operators (moatftpd --bans, --unban ADDR) ---------------------------------------

std::string list_bans(State& s) {
  sync(s);
  const uint64_t wall = unix_now();
  std::string out;
  for (const auto& [address, expiry] : current_bans(s))
    out += address + " " + std::to_string(expiry - wall) + "\n";
  return out.empty() ? "no bans\n" : out;
}

std::string unban(State& s, const std::string& text) {
  auto address = link_address(text);  // "::0001" finds the ban of "::1"
  if (!address) return "ERR not an IP address: " + text + "\n";
  sync(s);
  const bool here = lift_ban(s, *address);
  if (here) save_bans(s);
  const bool shared = s.redis.send({LinkKind::kUnban, *address, 0});
  if (here && !shared && s.settings) note_missed(s.missed.unbans, *address);
  if (!here && !shared) return "ERR " + *address + " is not banned\n";
  log_line(s, *address + " unbanned by the operator");
  return "OK " + *address + " unbanned\n";
}

int iplimit_control(moat_ctx* ctx, const char* request, char* answer, size_t len) {
  try {
    State& s = state_of(ctx);
    const std::string req = request;
    std::string out;
    if (req == "BANS")
      out = list_bans(s);
    else if (req.starts_with("UNBAN "))
      out = unban(s, req.substr(6));
    else
      return MOAT_CONTINUE;
    std::snprintf(answer, len, "%s", out.c_str());
  } catch (...) {
    std::snprintf(answer, len, "ERR out of memory\n");
  }
  return MOAT_HANDLED;
}

constexpr moat_module make_module() {
  moat_module m = module_base();
  m.check = iplimit_check;
  m.init = iplimit_init;
  m.admit = iplimit_admit;
  m.session_closed = iplimit_session_closed;
  m.login_failed = iplimit_login_failed;
  m.control = iplimit_control;
  return m;
}

}  // namespace

MOAT_MODULE(mod_iplimit) = make_module();
