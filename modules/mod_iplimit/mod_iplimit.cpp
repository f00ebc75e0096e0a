// SPDX-License-Identifier: GPL-2.0-or-later
// mod_iplimit: max_clients and max_per_ip with vsftpd's replies, enforced by the master
// before it forks (a refused client costs no process), and bans of addresses after
// repeated failed logins. All state lives in the master; it uses only the host table.
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <string>

#include "modules/moat_module.h"

namespace {

constexpr char kName[] = "mod_iplimit";
constexpr char kTooManyClients[] = "421 There are too many connected users, please try later.";
constexpr char kTooManyFromAddress[] =
    "421 There are too many connections from your internet address.";
constexpr char kBanned[] =
    "421 Too many failed logins from your internet address, please try later.";
// Addresses with failed logins remembered at once; beyond it new ones are not
// tracked (and that is logged), so a flood of addresses cannot grow the master.
constexpr std::size_t kMaxTracked = 65536;

#define MOAT_MODULE_DEF "modules/mod_iplimit/mod_iplimit.def"
#include "modules/module_options.inc"

// Times are milliseconds of CLOCK_MONOTONIC: wall-clock steps change no ban.
struct Failures {
  std::deque<uint64_t> times;  // of failed logins within the window, oldest first
  uint64_t banned_until = 0;
};

struct State {
  const moat_host* host = nullptr;
  unsigned clients = 0;
  std::map<std::string, unsigned> per_address;
  std::map<std::string, Failures> failures;
  bool full_logged = false;
};

// Read at each hook, so a SIGHUP reload of the values takes effect at once.
struct Limits {
  unsigned max_clients, max_per_ip, max_failures, window, ban_time;
};

Limits limits(const moat_host* h) {
  return {h->option_uint("max_clients"), h->option_uint("max_per_ip"),
          h->option_uint("max_login_failures_per_ip"), h->option_uint("login_failure_window"),
          h->option_uint("login_ban_time")};
}

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t ms(unsigned seconds) { return uint64_t{seconds} * 1000; }

void log_line(const State& s, const std::string& text) { s.host->log(kName, text.c_str()); }

int refuse(char* reply, size_t len, const char* text) {
  std::snprintf(reply, len, "%s", text);
  return MOAT_REFUSE;
}

// ---- bans ---------------------------------------------------------------------------

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
  const Limits l = limits(s.host);
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
}

// ---- hooks ----------------------------------------------------------------------------

// One master, one init: the state is the module's own static object, so nothing of it
// is left behind when a test unloads the module.
int iplimit_init(const moat_host* host, void** module_state) {
  static State state;
  state = State{};
  state.host = host;
  *module_state = &state;
  return 0;
}

int admit_checked(State& s, const moat_conn& conn, char* reply, size_t len) {
  const Limits l = limits(s.host);
  const std::string address = conn.peer_text;
  if (banned(s, address, now_ms())) return refuse(reply, len, kBanned);
  if (l.max_clients > 0 && s.clients >= l.max_clients) return refuse(reply, len, kTooManyClients);
  unsigned& mine = s.per_address[address];
  if (l.max_per_ip > 0 && mine >= l.max_per_ip) return refuse(reply, len, kTooManyFromAddress);
  ++mine;
  ++s.clients;
  return MOAT_CONTINUE;
}

int iplimit_admit(void* state, const moat_conn* conn, char* reply, size_t len) {
  try {
    return admit_checked(*static_cast<State*>(state), *conn, reply, len);
  } catch (...) {  // out of memory: refuse rather than admit uncounted
    return refuse(reply, len, "421 Service not available.");
  }
}

void iplimit_session_closed(void* state, const moat_conn* conn) {
  State& s = *static_cast<State*>(state);
  if (s.clients > 0) --s.clients;
  auto it = s.per_address.find(conn->peer_text);
  if (it == s.per_address.end()) return;
  if (--it->second == 0) s.per_address.erase(it);
}

void iplimit_login_failed(void* state, const moat_conn* conn, const char* user) {
  try {
    count_failure(*static_cast<State*>(state), conn->peer_text, user);
  } catch (...) {  // out of memory: this failure goes uncounted
  }
}

}  // namespace

MOAT_MODULE(mod_iplimit) = {
    MOAT_MODULE_ABI_VERSION,
    sizeof(struct moat_module),
    kName,
    kDescription,
    kOptions,
    nullptr,
    iplimit_init,
    iplimit_admit,
    iplimit_session_closed,
    iplimit_login_failed,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    {},
};
