// SPDX-License-Identifier: GPL-2.0-or-later
// tcp_wrappers in an unprivileged child (issue 11, point 9).
#include "config.h"
#include "privsep/wrappers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>

#ifdef HAVE_LIBWRAP
#include <dlfcn.h>
#include <tcpd.h>
#endif

#include "privsep/children.hpp"
#include "privsep/sandbox.hpp"
#include "privsep/users.hpp"

namespace moat {
namespace {

constexpr char kAllow = 'y';

#ifdef HAVE_LIBWRAP
// libwrap and the ten libraries it pulls in (libnsl, libtirpc, Kerberos...) are
// loaded only with tcp_wrappers=YES, by the master before it forks: linked in, their
// ~50 mappings were copied by every fork and torn down by every exit, three of each
// per login, for an option that is off by default.
constexpr char kLibWrap[] = "libwrap.so.0";

struct LibWrap {
  request_info* (*request_init)(request_info*, ...) = nullptr;
  void (*sock_hostname)(host_info*) = nullptr;
  void (*sock_hostaddr)(host_info*) = nullptr;
  int (*hosts_access)(request_info*) = nullptr;
  int* allow_severity = nullptr;  // libwrap's globals, which a linked program defines
  int* deny_severity = nullptr;
};
LibWrap g_wrap;

template <typename T>
bool bind_symbol(void* lib, const char* name, T& out) {
  out = reinterpret_cast<T>(dlsym(lib, name));
  return out != nullptr;
}

// The address with tcpd's lazy name lookups, so host name rules, KNOWN/UNKNOWN and
// PARANOID mean what they say (an unknown name would match UNKNOWN for everyone).
bool hosts_access_allows(const sockaddr_storage& peer) {
  if (g_wrap.hosts_access == nullptr) return false;  // not loaded: refuse, never admit
  sockaddr_storage client = peer;
  request_info req;
  g_wrap.request_init(&req, RQ_DAEMON, "moatftpd", RQ_CLIENT_SIN,
                      reinterpret_cast<sockaddr*>(&client), 0);
  req.hostname = g_wrap.sock_hostname;  // tcpd.h's sock_methods()
  req.hostaddr = g_wrap.sock_hostaddr;
  return g_wrap.hosts_access(&req) != 0;
}
#endif

[[noreturn]] void judge(const Identity& id, const sockaddr_storage& peer, int verdict_fd) {
  prctl(PR_SET_NAME, "moat-wrappers");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  close_fds_except({verdict_fd});
  if (auto st = sandbox_drop_privileges(id); !st) _exit(1);
#ifdef HAVE_LIBWRAP
  const char verdict = hosts_access_allows(peer) ? kAllow : 'n';
#else
  (void)peer;
  const char verdict = kAllow;
#endif
  ssize_t ignored = write(verdict_fd, &verdict, 1);
  (void)ignored;
  _exit(0);
}

// The child's verdict byte, or 0 when none came within the timeout.
char read_verdict(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + kWrappersTimeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    char c = 0;
    return n == 1 && read(fd, &c, 1) == 1 ? c : 0;
  }
}

}  // namespace

Status wrappers_load() {
#ifdef HAVE_LIBWRAP
  if (g_wrap.hosts_access != nullptr) return Ok{};
  void* lib = dlopen(kLibWrap, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return fail(std::string("tcp_wrappers=YES: ") + dlerror());
  LibWrap w;
  if (!bind_symbol(lib, "request_init", w.request_init) ||
      !bind_symbol(lib, "sock_hostname", w.sock_hostname) ||
      !bind_symbol(lib, "sock_hostaddr", w.sock_hostaddr) ||
      !bind_symbol(lib, "allow_severity", w.allow_severity) ||
      !bind_symbol(lib, "deny_severity", w.deny_severity) ||
      !bind_symbol(lib, "hosts_access", w.hosts_access))
    return fail(std::string("tcp_wrappers=YES: ") + kLibWrap + " lacks a symbol");
  *w.allow_severity = LOG_INFO;
  *w.deny_severity = LOG_WARNING;
  g_wrap = w;
  return Ok{};
#else
  return fail("tcp_wrappers=YES but moatftpd was built without libwrap");
#endif
}

bool wrappers_allow(const Config& cfg, const sockaddr_storage& peer) {
  if (!cfg.tcp_wrappers) return true;
  auto nopriv = user_lookup(cfg.nopriv_user);
  if (!nopriv) return false;
  const Identity id{nopriv->uid, nopriv->gid, {nopriv->gid}, "", "/"};
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return false;
  UniqueFd rd(p[0]), wr(p[1]);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) judge(id, peer, wr.get());
  wr.reset();
  const char verdict = read_verdict(rd.get());
  reap_within(pid, verdict == 0 ? std::chrono::milliseconds(0) : kExitGrace);
  return verdict == kAllow;
}

}  // namespace moat
