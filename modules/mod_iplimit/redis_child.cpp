// SPDX-License-Identifier: GPL-2.0-or-later
// mod_iplimit's Redis child. It runs as nopriv_user in the empty secure_chroot_dir
// with no_new_privs and a seccomp allow-list (redis_sandbox.cpp), holds no descriptor
// but its link to the master and stdio, and never sees a client byte.
// It may wait on Redis (hiredis' blocking calls, each bounded by
// iplimit_redis_timeout): the master never does. Keys, under iplimit_redis_prefix:
//   bans          sorted set: member ADDR, score the ban's expiry (Unix seconds)
//   fail:ADDR     failed logins from ADDR in the current window (expires with it)
//   conn:ADDR     hash: node -> that node's sessions from ADDR (expires after
//                 iplimit_redis_count_ttl unless refreshed)
//   events        channel: link messages "B ADDR EXPIRY", "U ADDR", "C ADDR 0"
#include "modules/mod_iplimit/redis_child.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "config.h"
#include "modules/mod_iplimit/redis_sandbox.hpp"

#if HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace {

void isolate(const RedisSettings& s, int fd) {
  // No PR_SET_PDEATHSIG: with background=YES the process that forked this one exits at
  // daemon(), and the master lives on in its child; EOF on the link ends this process.
  prctl(PR_SET_NAME, "moat-iplimit");
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) signal(sig, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (fd > 3) close_range(3, static_cast<unsigned>(fd) - 1, 0);
  close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
  if (auto error = redis_sandbox_enter(s)) {
    s.log("redis child: " + *error + "; not sharing bans");
    _exit(1);
  }
}

#if HAVE_HIREDIS

uint64_t unix_now() { return static_cast<uint64_t>(time(nullptr)); }

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class Child {
 public:
  Child(const RedisSettings& s, int fd) : s_(s), fd_(fd), node_(node_name()) {}
  [[noreturn]] void run();

 private:
  static std::string node_name();
  std::string key(const std::string& tail) const { return s_.prefix + tail; }
  timeval timeout() const {
    return {static_cast<time_t>(s_.timeout_ms / 1000),
            static_cast<suseconds_t>(s_.timeout_ms % 1000 * 1000)};
  }
  Context open_context() const;
  bool connect();
  void went_down(const std::string& why);
  Reply command(const char* fmt, const std::string& a = {}, const std::string& b = {},
                const std::string& c = {});
  void tell_master(const LinkMessage& m);
  void publish(const LinkMessage& m);
  void load_bans();
  void flush_pending();
  void on_master(const LinkMessage& m);
  void on_failure(const std::string& address);
  void ban(const std::string& address, uint64_t expiry);
  void unban(const std::string& address);
  void count(const std::string& address, uint64_t n);
  void write_count(const std::string& address, uint64_t n);
  void on_event(const LinkMessage& m);
  void read_events();
  void refresh();
  void read_master();

  const RedisSettings& s_;
  int fd_;
  std::string node_;
  Context cmd_, sub_;
  bool down_logged_ = false;
  // What this node did while Redis was away, given to it when it returns.
  std::map<std::string, uint64_t> pending_bans_;
  std::set<std::string> pending_unbans_;
  std::map<std::string, uint64_t> own_counts_;
};

std::string Child::node_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getppid());
}

Context Child::open_context() const {
  Context c(redisConnectWithTimeout(s_.host.c_str(), static_cast<int>(s_.port), timeout()));
  if (!c || c->err) return nullptr;
  if (redisSetTimeout(c.get(), timeout()) != REDIS_OK) return nullptr;
  return c;
}

bool Child::connect() {
  cmd_ = open_context();
  sub_ = cmd_ ? open_context() : nullptr;
  if (!sub_) {
    went_down("cannot connect");
    return false;
  }
  Reply r(
      static_cast<redisReply*>(redisCommand(sub_.get(), "SUBSCRIBE %s", key("events").c_str())));
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    went_down("SUBSCRIBE failed");
    return false;
  }
  flush_pending();
  if (cmd_) load_bans();
  if (!cmd_) return false;
  tell_master({LinkKind::kUp, {}, 0});
  s_.log("redis " + s_.host + ":" + std::to_string(s_.port) +
         (down_logged_ ? " reachable again" : " reachable") +
         ": sharing bans and per-address counts");
  down_logged_ = false;
  return true;
}

// Once per outage: the first failure says so, retries say nothing until Redis returns.
void Child::went_down(const std::string& why) {
  cmd_.reset();
  sub_.reset();
  tell_master({LinkKind::kDown, {}, 0});
  if (down_logged_) return;
  down_logged_ = true;
  s_.log("redis " + s_.host + ":" + std::to_string(s_.port) + " unreachable (" + why +
         "): falling back to this node's table; known bans are kept");
}

Reply Child::command(const char* fmt, const std::string& a, const std::string& b,
                     const std::string& c) {
  if (!cmd_) return nullptr;
  Reply r(static_cast<redisReply*>(redisCommand(cmd_.get(), fmt, a.c_str(), b.c_str(), c.c_str())));
  if (!r) went_down(cmd_->errstr[0] ? cmd_->errstr : "no reply");
  return r;
}

void Child::tell_master(const LinkMessage& m) {
  const std::string text = link_encode(m);
  ssize_t ignored = send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
  (void)ignored;
}

void Child::publish(const LinkMessage& m) {
  command("PUBLISH %s %s", key("events"), link_encode(m));
}

// Every ban Redis holds, on each (re)connection: a restarted node learns them too.
void Child::load_bans() {
  const std::string now = std::to_string(unix_now());
  command("ZREMRANGEBYSCORE %s -inf %s", key("bans"), now);
  Reply r = command("ZRANGEBYSCORE %s (%s +inf WITHSCORES", key("bans"), now);
  if (!r || r->type != REDIS_REPLY_ARRAY) return;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const std::string text = "B " + std::string(r->element[i]->str ? r->element[i]->str : "") +
                             " " + (r->element[i + 1]->str ? r->element[i + 1]->str : "");
    if (auto m = link_decode(text)) tell_master(*m);
  }
}

void Child::flush_pending() {
  auto bans = std::exchange(pending_bans_, {});
  auto unbans = std::exchange(pending_unbans_, {});
  for (const auto& [address, expiry] : bans) ban(address, expiry);
  for (const auto& address : unbans) unban(address);
  for (const auto& [address, n] : own_counts_) write_count(address, n);
}

void Child::on_failure(const std::string& address) {
  if (s_.max_failures == 0 || s_.ban_time == 0) return;
  const std::string k = key("fail:" + address);
  Reply r = command("INCR %s", k);
  if (!r || r->type != REDIS_REPLY_INTEGER) return;
  if (r->integer == 1) command("EXPIRE %s %s", k, std::to_string(s_.failure_window));
  if (static_cast<uint64_t>(r->integer) < s_.max_failures) return;
  command("DEL %s", k);
  ban(address, unix_now() + s_.ban_time);
}

void Child::ban(const std::string& address, uint64_t expiry) {
  if (!cmd_) {
    pending_unbans_.erase(address);
    pending_bans_[address] = std::max(pending_bans_[address], expiry);
    return;
  }
  command("ZADD %s GT %s %s", key("bans"), std::to_string(expiry), address);
  publish({LinkKind::kBan, address, expiry});
}

void Child::unban(const std::string& address) {
  if (!cmd_) {
    pending_bans_.erase(address);
    pending_unbans_.insert(address);
    return;
  }
  command("ZREM %s %s", key("bans"), address);
  command("DEL %s", key("fail:" + address));
  publish({LinkKind::kUnban, address, 0});
}

void Child::count(const std::string& address, uint64_t n) {
  if (n == 0)
    own_counts_.erase(address);
  else
    own_counts_[address] = n;
  write_count(address, n);
  publish({LinkKind::kCount, address, 0});
}

void Child::write_count(const std::string& address, uint64_t n) {
  const std::string k = key("conn:" + address);
  if (n == 0) {
    command("HDEL %s %s", k, node_);
    return;
  }
  command("HSET %s %s %s", k, node_, std::to_string(n));
  command("EXPIRE %s %s", k, std::to_string(s_.count_ttl));
}

void Child::on_master(const LinkMessage& m) {
  switch (m.kind) {
    case LinkKind::kFailure:
      return on_failure(m.address);
    case LinkKind::kBan:
      return ban(m.address, m.number);
    case LinkKind::kUnban:
      return unban(m.address);
    case LinkKind::kCount:
      return count(m.address, m.number);
    default:
      return;
  }
}

// A ban or unban from any node (this one too) goes to the master, then to the log: a
// test or an operator that sees the line knows the master will act on it.
void Child::on_event(const LinkMessage& m) {
  if (m.kind == LinkKind::kBan) {
    tell_master(m);
    s_.log("redis: " + m.address + " banned on all nodes for " +
           std::to_string(m.number > unix_now() ? m.number - unix_now() : 0) + " s");
  } else if (m.kind == LinkKind::kUnban) {
    tell_master(m);
    s_.log("redis: " + m.address + " unbanned on all nodes");
  } else if (m.kind == LinkKind::kCount) {
    Reply r = command("HGETALL %s", key("conn:" + m.address));
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    uint64_t others = 0;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      if (r->element[i]->str == nullptr || r->element[i]->str == node_) continue;
      others += std::strtoull(r->element[i + 1]->str ? r->element[i + 1]->str : "0", nullptr, 10);
    }
    tell_master({LinkKind::kCount, m.address, others});
  }
}

void Child::read_events() {
  if (redisBufferRead(sub_.get()) != REDIS_OK) return went_down("subscription lost");
  void* raw = nullptr;
  while (sub_ && redisGetReplyFromReader(sub_.get(), &raw) == REDIS_OK && raw != nullptr) {
    Reply r(static_cast<redisReply*>(raw));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->str == nullptr) continue;
    const std::string_view payload(r->element[2]->str, r->element[2]->len);
    if (auto m = link_decode(payload)) on_event(*m);
  }
}

// Keeps this node's counts alive (a node that dies stops refreshing, and its share
// expires) and notices an idle outage.
void Child::refresh() {
  Reply r = command("PING");
  for (const auto& [address, n] : own_counts_) write_count(address, n);
}

void Child::read_master() {
  char buf[kLinkMessageMax + 1];
  const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) _exit(0);  // the master is gone
  if (n < 0) return;
  if (auto m = link_decode(std::string_view(buf, static_cast<std::size_t>(n)))) on_master(*m);
}

uint64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Redis away: a new attempt each second, however busy the master keeps the link.
void Child::run() {
  constexpr uint64_t kRetryMs = 1000;
  const uint64_t refresh_ms = uint64_t{std::max(1u, s_.count_ttl / 3)} * 1000;
  uint64_t due = mono_ms();
  for (;;) {
    const uint64_t now = mono_ms();
    if (now >= due) {
      if (cmd_)
        refresh();
      else
        connect();
      due = now + (cmd_ ? refresh_ms : kRetryMs);
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {sub_ ? sub_->fd : -1, POLLIN, 0}};
    const int rc = poll(fds, 2, static_cast<int>(due - std::min(due, mono_ms())));
    if (rc < 0 && errno != EINTR) _exit(1);
    if (rc <= 0) continue;
    if (fds[0].revents) read_master();
    if (sub_ && fds[1].revents) read_events();
    if (!cmd_ && due > mono_ms() + kRetryMs) due = mono_ms() + kRetryMs;
  }
}

#endif

}  // namespace

#if HAVE_HIREDIS
bool redis_backend_built() { return true; }
#else
bool redis_backend_built() { return false; }
#endif

void redis_child_main(const RedisSettings& s, int fd) {
  isolate(s, fd);
#if HAVE_HIREDIS
  Child(s, fd).run();
#else
  s.log("built without hiredis: iplimit_backend=redis is not available");
  _exit(1);
#endif
}
