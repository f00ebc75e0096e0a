// SPDX-License-Identifier: GPL-2.0-or-later
// The Redis child's sandbox. The child is the one process of mod_iplimit that reads
// what a network peer (Redis, or whoever answers at its address) sends, through
// hiredis' parser: it gets nothing a parser bug could use. The allow-list is written
// like privsep/seccomp.cpp's tables (privsep/seccomp_rule.hpp); a module cannot link
// the core's filters, and this one is narrower than any of them: no files, no
// listening, no descriptors received.
#include "modules/mod_iplimit/redis_sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <span>

#include "config.h"
#include "privsep/seccomp_rule.hpp"

namespace {

using namespace moat::seccomp_rule;  // NOLINT(google-build-using-namespace): the table's words

// clang-format off: grouped by purpose, each with its reason.
constexpr Rule kRedisChildRules[] = {
    // hiredis reads and writes its connection; the child sends to and receives from
    // the master's link (send/recv are sendto/recvfrom); log lines go to stderr.
    allow(SCMP_SYS(read)), allow(SCMP_SYS(write)),
    allow(SCMP_SYS(sendto)), allow(SCMP_SYS(recvfrom)),
    allow(SCMP_SYS(close)),  // redisFree after an outage
    allow(SCMP_SYS(poll)),   // the child's loop; hiredis waits for its connect
    // A TCP connection to Redis, again after each outage: nothing but TCP over IPv4
    // or IPv6 (no unix, netlink, raw or UDP socket), and no bind, listen or accept.
    allow(SCMP_SYS(socket), eq(0, AF_INET), kStream), allow(SCMP_SYS(socket), eq(0, AF_INET6), kStream),
    allow(SCMP_SYS(connect)),
    // How hiredis' non-blocking connect ended; no delay for its small commands; its
    // reply timeout (iplimit_redis_timeout).
    allow(SCMP_SYS(getsockopt), eq(1, SOL_SOCKET), eq(2, SO_ERROR)),
    allow(SCMP_SYS(setsockopt), eq(1, IPPROTO_TCP), eq(2, TCP_NODELAY)),
    allow(SCMP_SYS(setsockopt), eq(1, SOL_SOCKET), eq(2, SO_RCVTIMEO)),
    allow(SCMP_SYS(setsockopt), eq(1, SOL_SOCKET), eq(2, SO_SNDTIMEO)),
    // hiredis' non-blocking connect, then blocking again; never O_ASYNC (SIGIO).
    allow(SCMP_SYS(fcntl), eq(1, F_GETFL)),
    allow(SCMP_SYS(fcntl), eq(1, F_SETFL), masked(2, O_ASYNC, 0)),
    // malloc (replies, strings, maps); never executable memory.
    allow(SCMP_SYS(mmap), kNoExec), allow(SCMP_SYS(munmap)), allow(SCMP_SYS(mremap)),
    allow(SCMP_SYS(brk)),
    allow(SCMP_SYS(madvise)),  // malloc returns memory to the kernel
    // Deadlines and ban expiries; the vDSO falls back to the syscalls.
    allow(SCMP_SYS(clock_gettime)), allow(SCMP_SYS(time)),
    allow(SCMP_SYS(uname)), allow(SCMP_SYS(getppid)),  // this node's name in Redis: host:master
    allow(SCMP_SYS(getpid)),  // a log line: only the master's pid writes to the log files
    allow(SCMP_SYS(restart_syscall)),  // a poll resumed after a stop (SIGSTOP, a tracer)
    allow(SCMP_SYS(exit)), allow(SCMP_SYS(exit_group)),  // the master has gone: _exit
#ifdef MOAT_SANITIZERS
    allow(SCMP_SYS(sigaltstack)),  // ASan's own signal stack, set up lazily
#endif
};
// clang-format on

struct CtxRelease {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;

std::string failed(const std::string& what, int err) { return what + ": " + std::strerror(err); }

std::optional<std::string> load_filter() {
  // Written for these; elsewhere glibc's syscalls differ (mmap2, socketcall...).
  const uint32_t arch = seccomp_arch_native();
  if (arch != SCMP_ARCH_X86_64 && arch != SCMP_ARCH_AARCH64)
    return std::string("seccomp: no allow-list for this architecture");
  Ctx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return std::string("seccomp_init failed");
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS))
    return failed("seccomp attribute", -rc);
  for (const Rule& r : std::span(kRedisChildRules)) {
    if (r.nr < 0) continue;  // not a syscall on this architecture
    if (int rc = seccomp_rule_add_array(ctx.get(), r.action, r.nr, r.ncmp, r.cmp.data()))
      return failed("seccomp rule " + std::to_string(r.nr), -rc);
  }
  if (int rc = seccomp_load(ctx.get())) return failed("seccomp_load", -rc);
  return std::nullopt;
}

// Read back, rather than trusting the return codes: every id is nopriv_user's, and
// root cannot be regained.
bool identity_holds(const RedisSettings& s) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) return false;
  if (ru != s.uid || eu != s.uid || su != s.uid || rg != s.gid || eg != s.gid || sg != s.gid)
    return false;
  return getgroups(0, nullptr) == 0 && setuid(0) != 0;
}

std::optional<std::string> drop_root(const RedisSettings& s) {
  if (s.uid == 0) return std::string("refusing to run as uid 0 (nopriv_user)");
  if (setgroups(0, nullptr) != 0) return failed("setgroups", errno);
  if (setresgid(s.gid, s.gid, s.gid) != 0) return failed("setresgid", errno);
  if (setresuid(s.uid, s.uid, s.uid) != 0) return failed("setresuid", errno);
  if (!identity_holds(s)) return std::string("the change to nopriv_user did not stick");
  return std::nullopt;
}

// No processes (it never forks), no core dumps (they would hold Redis' replies).
std::optional<std::string> limit() {
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_NPROC, &none) != 0) return failed("setrlimit NPROC", errno);
  if (setrlimit(RLIMIT_CORE, &none) != 0) return failed("setrlimit CORE", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return failed("PR_SET_NO_NEW_PRIVS", errno);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return failed("PR_SET_DUMPABLE", errno);
  return std::nullopt;
}

}  // namespace

// The address is always numeric TCP (iplimit_redis_address: IPV4:PORT or [IPV6]:PORT),
// so hiredis needs no file, not even /etc/hosts: the root is the empty chroot.
std::optional<std::string> redis_sandbox_enter(const RedisSettings& s) {
  if (s.chroot_dir.empty()) return std::string("no secure_chroot_dir");
  if (chroot(s.chroot_dir.c_str()) != 0) return failed("chroot " + s.chroot_dir, errno);
  if (chdir("/") != 0) return failed("chdir /", errno);
  if (auto e = drop_root(s)) return e;
  if (auto e = limit()) return e;
  return load_filter();
}
