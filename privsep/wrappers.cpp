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
#include <tcpd.h>
int allow_severity = LOG_INFO;  // libwrap reads these globals
int deny_severity = LOG_WARNING;
#endif

#include "privsep/children.hpp"
#include "privsep/sandbox.hpp"
#include "privsep/users.hpp"

namespace moat {
namespace {

constexpr char kAllow = 'y';

#ifdef HAVE_LIBWRAP
// The address with tcpd's lazy name lookups, so host name rules, KNOWN/UNKNOWN and
// PARANOID mean what they say (an unknown name would match UNKNOWN for everyone).
bool hosts_access_allows(const sockaddr_storage& peer) {
  sockaddr_storage client = peer;
  request_info req;
  request_init(&req, RQ_DAEMON, "moatftpd", RQ_CLIENT_SIN, reinterpret_cast<sockaddr*>(&client),
               0);
  sock_methods(&req);
  return hosts_access(&req) != 0;
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
