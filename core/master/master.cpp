// SPDX-License-Identifier: GPL-2.0-or-later
// The master: a single-threaded libevent loop that accepts, forks a session helper
// per connection, reaps children, reloads on SIGHUP and stops on SIGTERM. It never
// reads a byte from a client (a trusted balancer's PROXY header: core/master/master_proxy.cpp).
#include "core/master/master.hpp"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <memory>

#include "core/protocol/ftpcmd.hpp"
#include "core/master/heap_holes.hpp"
#include "core/master/master_accept.hpp"
#include "core/master/master_memory.hpp"
#include "core/master/master_proxy.hpp"
#include "core/master/master_ops.hpp"
#include "core/master/master_sessions.hpp"
#include "core/host/module_host.hpp"
#include "core/host/modules.hpp"
#include "core/common/server.hpp"
#include "core/common/server_log.hpp"
#include "core/master/session_hooks.hpp"
#include "privsep/helper.hpp"
#include "privsep/log_relay.hpp"
#include "privsep/master_link.hpp"
#include "privsep/sandbox.hpp"
#include "core/master/seccomp_selftest.hpp"

namespace moat {
namespace {

struct EventBaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
using EventPtr = std::unique_ptr<event, EventFree>;

Result<UniqueFd> open_listener(int family, const std::string& address, unsigned port,
                               bool v6only) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (!address.empty() && inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1)
      return fail("listen_address " + address + " is not an IPv4 address");
    len = sizeof a;
  } else {
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    if (!address.empty() && inet_pton(AF_INET6, address.c_str(), &a.sin6_addr) != 1)
      return fail("listen_address6 " + address + " is not an IPv6 address");
    len = sizeof a;
  }
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket: " + errno_text(errno));
  int one = 1;
  int v6 = v6only ? 1 : 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
  // The kernel's own cap (net.core.somaxconn): a burst of connections waits in the
  // backlog while the master forks, instead of being refused.
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(fd.get(), SOMAXCONN) != 0)
    return fail("cannot listen on " + (address.empty() ? std::string("*") : address) + " port " +
                std::to_string(port) + ": " + errno_text(errno));
  return fd;
}

void announce(const ListenSocket& l) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  std::fprintf(stderr, "moatftpd: listening on %s port %u%s\n", sockaddr_host_text(ss).c_str(),
               sockaddr_port(ss), l.implicit_tls ? " (implicit TLS)" : "");
}

// With a module that listens for failed logins the master holds one link per session:
// a soft limit of 1024 descriptors would cap the server near a thousand sessions, so
// take what the hard limit allows.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

class Master {
 public:
  Master(std::string file, std::vector<std::string> overrides,
         std::shared_ptr<const ServerContext> ctx)
      : file_(std::move(file)), overrides_(std::move(overrides)), ctx_(std::move(ctx)),
        modules_(ctx_->cfg.modules ? ctx_->cfg.modules : std::make_shared<ModuleRegistry>()) {}
  int run();

 private:
  Status open_listeners();
  Status open_family_listeners(unsigned port, bool implicit_tls);
  Result<MasterLinkPair> session_link() const;
  void admit(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls);
  void fork_session(UniqueFd client, const sockaddr_storage& peer, const ConnInfo& conn,
                    bool implicit_tls);
  void on_signal(int sig);
  void reap();
  void reload();
  Status keep_modules(Config& cfg) const;

  std::string file_;
  std::vector<std::string> overrides_;
  std::shared_ptr<const ServerContext> ctx_;
  std::unique_ptr<event_base, EventBaseFree> base_;
  std::vector<ListenSocket> listeners_;  // until the event loop's Acceptor takes them
  std::unique_ptr<Acceptor> acceptor_;
  std::unique_ptr<ProxyGate> proxy_gate_;  // PROXY headers from proxy_protocol_from
  RefusalLog refusals_;
  std::vector<EventPtr> signals_;
  std::shared_ptr<ModuleRegistry> modules_;  // loaded and initialised once, before any fork
  MasterMemoryPtr<SessionTable> sessions_;
  MasterOps ops_;  // pid file and control socket; after sessions_, so it goes first
};

Status Master::open_family_listeners(unsigned port, bool implicit_tls) {
  const Config& c = ctx_->cfg;
  if (c.listen) {
    auto fd = open_listener(AF_INET, c.listen_address, port, false);
    if (!fd) return fail(fd.error());
    listeners_.push_back({std::move(*fd), implicit_tls});
  }
  if (c.listen_ipv6) {
    // Alone, the IPv6 socket also takes IPv4 (as vsftpd's listen_ipv6); with
    // listen=YES as well, each family has its own socket.
    auto fd = open_listener(AF_INET6, c.listen_address6, port, c.listen);
    if (!fd) return fail(fd.error());
    listeners_.push_back({std::move(*fd), implicit_tls});
  }
  return Ok{};
}

// implicit_ssl=YES makes the listeners themselves implicit, as in vsftpd: a migrated
// implicit-FTPS server must never answer in plaintext on its port.
Status Master::open_listeners() {
  const Config& c = ctx_->cfg;
  const bool implicit = c.ssl_enable && c.implicit_ssl;
  if (auto st = open_family_listeners(c.listen_port, implicit); !st) return st;
  for (auto& l : listeners_) announce(l);
  return Ok{};
}

// A link per session only when a module listens for failed logins: otherwise the
// master would hold a descriptor per live session for nothing, and its RLIMIT_NOFILE
// would cap how many sessions the server can hold.
Result<MasterLinkPair> Master::session_link() const {
  if (!modules_->has_login_failed_hooks()) return MasterLinkPair{};
  return master_link_pair();
}

void Master::fork_session(UniqueFd client, const sockaddr_storage& peer, const ConnInfo& conn,
                          bool implicit_tls) {
  auto link = session_link();
  pid_t pid = link ? fork() : -1;
  if (pid < 0) {  // out of processes or descriptors: the client hears so, service goes on
    refusals_.refused(link ? "fork: " + errno_text(errno) : link.error());
    refuse_busy(client.get(), implicit_tls);
    modules_->session_closed(conn.view);
    return;
  }
  if (pid > 0) {
    refusals_.admitted();
    sessions_->add(pid, conn, std::move(link->master));
    return;
  }
  // Its own session and process group, as vsftpd's sessions: a signal to the
  // master's group (Ctrl-C on a server in the foreground) leaves running sessions
  // alone, and with autogroup scheduling each session competes for the CPU as its
  // own group instead of all of them sharing the master's share.
  setsid();
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  master_link_adopt(std::move(link->helper));
  server_log_bind(nullptr);  // the helper writes its session's lines itself
  std::vector<int> keep{2, client.get(), master_link_fd()};
  for (int fd : {ctx_->xferlog_fd, ctx_->vsftpd_log_fd, ctx_->json_log_fd})
    if (fd >= 0) keep.push_back(fd);
  close_fds_except(keep);  // listeners, other sessions' links, the event loop's descriptors
  // The context outlives the session: this process never returns to the loop that
  // would drop it. A pointer without a count keeps every copy the helper and its
  // workers make from writing the count, which would copy its page into each of them.
  std::shared_ptr<const ServerContext> ctx(std::shared_ptr<const ServerContext>(), ctx_.get());
  helper_run(ctx, std::move(client), peer, session_helper_hooks(ctx), implicit_tls);
}

// The modules' admit hooks run before any fork: a refused client gets the module's
// reply instead of the greeting and costs no process. An implicit FTPS client expects
// TLS, which the master never speaks: it is closed without a word rather than sent
// cleartext.
void Master::admit(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls) {
  const ConnInfo conn(client.get(), peer);
  std::string reply;
  if (modules_->admit(conn.view, reply)) {
    return fork_session(std::move(client), peer, conn, implicit_tls);
  }
  SessionLog(*ctx_, peer).refused(reply);
  refuse_client(client.get(), implicit_tls, reply);
}

void Master::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) sessions_->reaped(pid);
}

// Modules are loaded once, before any fork: a reload may change their options but not
// which modules run (their state, such as per-address counts, lives on).
Status Master::keep_modules(Config& cfg) const {
  const std::vector<std::string> now = modules_->names();
  const std::vector<std::string> asked = cfg.modules ? cfg.modules->names() : now;
  if (asked != now) return fail("load_module lines changed: restart moatftpd to change modules");
  cfg.modules = modules_;
  return Ok{};
}

void Master::reload() {
  auto cfg = config_load(file_, overrides_);
  if (!cfg) {
    server_log("SIGHUP: configuration not reloaded: " + cfg.error(), true);
    return;
  }
  if (auto st = keep_modules(*cfg); !st) {
    server_log("SIGHUP: configuration not reloaded: " + st.error(), true);
    return;
  }
  auto ctx = server_prepare(std::move(*cfg), true);
  if (!ctx) {
    server_log("SIGHUP: configuration not reloaded: " + ctx.error(), true);
    return;
  }
  if (auto st = seccomp_check((*ctx)->cfg); !st) {
    server_log("SIGHUP: configuration not reloaded: " + st.error(), true);
    return;
  }
  ctx_ = std::move(*ctx);
  server_log_bind(ctx_.get());
  modules_->bind(&ctx_->cfg);
  heap_fill_holes();  // the old context's memory, free now
  server_log("configuration reloaded");
}

void Master::on_signal(int sig) {
  if (sig == SIGCHLD) return reap();
  if (sig == SIGHUP) return reload();
  // SIGTERM/SIGINT: stop accepting; running sessions are separate processes and go on.
  acceptor_->close();
  event_base_loopbreak(base_.get());
}

int Master::run() {
  tzset();  // workers are chrooted: load the zone before they are forked
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  server_log_bind(ctx_.get());
  if (auto st = modules_->init(ctx_->cfg); !st) {
    server_log(st.error(), true);
    return 1;
  }
  auto ops = MasterOps::claim(ctx_->cfg);
  if (!ops) {
    server_log(ops.error(), true);
    return 1;
  }
  ops_ = std::move(*ops);
  if (auto st = open_listeners(); !st) {
    server_log(st.error(), true);
    return 1;
  }
  if (ctx_->cfg.background && daemon(0, 0) != 0) {
    server_log("daemon: " + errno_text(errno), true);
    return 1;
  }
  server_log_bind(ctx_.get());  // daemon() forked: this process is the master now
  // What the loop writes for every client (the event base and its epoll array, the
  // listeners' events, the session table) goes to memory no child inherits: each
  // heap page the master writes between two forks is one more copy that the sessions
  // forked before keep. Without that memory, it sits together at the top of the heap.
  heap_fill_holes();
  master_memory_start();
  base_.reset(event_base_new());
  if (!base_) {
    server_log("event_base_new failed", true);
    return 1;
  }
  sessions_ = master_memory_new<SessionTable>(base_.get(), *modules_);
  auto admit = [this](UniqueFd client, const sockaddr_storage& peer, bool implicit_tls) {
    this->admit(std::move(client), peer, implicit_tls);
  };
  proxy_gate_ = std::make_unique<ProxyGate>(base_.get(), admit);
  auto accepted = [this](UniqueFd client, const sockaddr_storage& peer, bool implicit_tls) {
    proxy_gate_->take(std::move(client), peer, implicit_tls, ctx_->proxy_from);
  };
  acceptor_ = std::make_unique<Acceptor>(base_.get(), std::move(listeners_), accepted, refusals_);
  auto signal_cb = [](evutil_socket_t sig, short, void* self) {
    static_cast<Master*>(self)->on_signal(sig);
  };
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) {
    signals_.emplace_back(evsignal_new(base_.get(), sig, signal_cb, this));
    event_add(signals_.back().get(), nullptr);
  }
  if (auto st = ops_.start(ctx_->cfg, base_.get(), *sessions_, *modules_); !st) {
    server_log(st.error(), true);  // after daemon(): stderr is /dev/null
    return 1;
  }
  heap_fill_holes();  // every session inherits this heap
  event_base_dispatch(base_.get());
  return 0;
}

}  // namespace

int master_run(const std::string& config_file, const std::vector<std::string>& overrides,
               Config cfg) {
  prctl(PR_SET_NAME, "moatftpd");
  auto ctx = server_prepare(std::move(cfg), true);
  if (!ctx) {
    std::fprintf(stderr, "moatftpd: %s\n", ctx.error().c_str());
    return 1;
  }
  if (auto st = seccomp_check((*ctx)->cfg); !st) {
    std::fprintf(stderr, "moatftpd: %s\n", st.error().c_str());
    return 1;
  }
  if (auto st = seccomp_precompile(); !st && (*ctx)->cfg.seccomp_sandbox) {
    std::fprintf(stderr, "moatftpd: %s\n", st.error().c_str());
    return 1;
  }
  Master m(config_file, overrides, std::move(*ctx));
  return m.run();
}

}  // namespace moat
