// SPDX-License-Identifier: GPL-2.0-or-later
// The workers' seccomp allow-lists, built with libseccomp. Anything not listed kills
// the process (or traps and names the call in a --enable-debug-seccomp build).
#include <asm/ioctls.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <unistd.h>

#include "config.h"
#include "privsep/sandbox.hpp"
#include "privsep/seccomp_rule.hpp"

namespace moat {

namespace {

using namespace seccomp_rule;  // NOLINT(google-build-using-namespace): the tables' words

// Stands for the worker's own pid, which is only known when the filter is built.
constexpr scmp_datum_t kSelfPid = ~scmp_datum_t{0};

// clang-format off: one table per layer, grouped by purpose.
// Every role (pre-login worker, TLS relay, post-login worker): a poll or libevent loop
// on descriptors it was given, glibc, OpenSSL. No file system, no new sockets.
constexpr Rule kEventLoopRules[] = {
    // The control connection, the helper's IPC, the relay's pair, files after login.
    allow(SCMP_SYS(read)), allow(SCMP_SYS(write)), allow(SCMP_SYS(readv)), allow(SCMP_SYS(writev)),
    allow(SCMP_SYS(pread64)), allow(SCMP_SYS(close)),
    allow(SCMP_SYS(fstat)), allow(SCMP_SYS(statx)),  // stdio, libevent, SIZE and RETR
    allow(SCMP_SYS(newfstatat)),  // glibc >= 2.33 implements fstat() with it
    allow(SCMP_SYS(lseek)),       // REST offsets, a transfer's position
    // malloc, OpenSSL's buffers, thread stacks; never new executable memory.
    allow(SCMP_SYS(mmap), kNoExec), allow(SCMP_SYS(mprotect), kNoExec),
    allow(SCMP_SYS(munmap)), allow(SCMP_SYS(mremap)), allow(SCMP_SYS(brk)),
    allow(SCMP_SYS(madvise)),  // malloc returns memory to the kernel
    allow(SCMP_SYS(futex)),    // glibc's locks (stdio, malloc)
    // libevent's backends and the relay's poll loop.
    allow(SCMP_SYS(epoll_create1)), allow(SCMP_SYS(epoll_ctl)), allow(SCMP_SYS(epoll_wait)),
    allow(SCMP_SYS(epoll_pwait)), allow(SCMP_SYS(poll)), allow(SCMP_SYS(ppoll)),
    allow(SCMP_SYS(select)), allow(SCMP_SYS(pselect6)),
    // Timers, timeouts, log time stamps; the vDSO falls back to the syscalls.
    allow(SCMP_SYS(clock_gettime)), allow(SCMP_SYS(clock_nanosleep)), allow(SCMP_SYS(nanosleep)),
    allow(SCMP_SYS(gettimeofday)), allow(SCMP_SYS(time)),
    // Identity reads: log lines, listings' owner column, module hooks.
    allow(SCMP_SYS(getpid)), allow(SCMP_SYS(gettid)), allow(SCMP_SYS(getuid)),
    allow(SCMP_SYS(geteuid)), allow(SCMP_SYS(getgid)), allow(SCMP_SYS(getegid)),
    allow(SCMP_SYS(getrandom)),  // OpenSSL's and libevent's entropy
    // SIGPIPE ignored, libevent's signal handling, leaving.
    allow(SCMP_SYS(rt_sigaction)), allow(SCMP_SYS(rt_sigprocmask)), allow(SCMP_SYS(rt_sigreturn)),
    allow(SCMP_SYS(restart_syscall)), allow(SCMP_SYS(exit)), allow(SCMP_SYS(exit_group)),
    // fcntl: only what the code uses. F_SETOWN, F_SETOWN_EX and F_SETSIG (with O_ASYNC
    // they send SIGIO to any process of the same uid: another session's worker) and
    // F_SETLEASE, F_NOTIFY, F_DUPFD stay out.
    allow(SCMP_SYS(fcntl), eq(1, F_GETFL)),
    allow(SCMP_SYS(fcntl), eq(1, F_SETFL), masked(2, O_ASYNC, 0)),  // O_NONBLOCK, O_APPEND
    allow(SCMP_SYS(fcntl), eq(1, F_GETFD)),  // libevent's FD_CLOEXEC; a module's fd check
    allow(SCMP_SYS(fcntl), eq(1, F_SETFD)),
    allow(SCMP_SYS(ioctl), eq(1, FIONREAD)),  // libevent sizes its reads
    allow(SCMP_SYS(ioctl), eq(1, FIONBIO)),   // libevent makes descriptors non-blocking
    refuse(SCMP_SYS(ioctl), ENOTTY, eq(1, TCGETS)),  // stdio's isatty() probe
    // On the descriptors it holds: IPC with descriptors (sendmsg, recvmsg), control
    // and data I/O with flags (send/recv are sendto/recvfrom), ABOR's urgent data and
    // TCP options (setsockopt), addresses for PASV/EPSV replies and logs, shutdown
    // at the end of a transfer or a TLS session.
    allow(SCMP_SYS(sendmsg)), allow(SCMP_SYS(recvmsg)), allow(SCMP_SYS(sendto)),
    allow(SCMP_SYS(recvfrom)), allow(SCMP_SYS(shutdown)), allow(SCMP_SYS(getsockname)),
    allow(SCMP_SYS(getpeername)), allow(SCMP_SYS(setsockopt)), allow(SCMP_SYS(getsockopt)),
    // A stray syslog() or NSS lookup tries AF_UNIX: let it fail instead of killing.
    refuse(SCMP_SYS(socket), EACCES, eq(0, AF_UNIX)),
    allow(SCMP_SYS(eventfd2)),  // libevent's wake-up channel
    allow(SCMP_SYS(pipe2)),     // libevent's wake-up channel where eventfd is missing
    allow(SCMP_SYS(uname)),                          // glibc and OpenSSL ask for the kernel release
    allow(SCMP_SYS(prlimit64), eq(0, 0), eq(2, 0)),  // getrlimit() on ourselves only
    allow(SCMP_SYS(sched_yield)),                    // glibc's spin locks
    allow(SCMP_SYS(tgkill), eq(0, kSelfPid)),                 // abort() signals itself, nobody else
    allow(SCMP_SYS(set_robust_list)), allow(SCMP_SYS(rseq)),  // glibc thread setup
};

// Pre-auth only: at a login over TLS the worker becomes the control connection's
// relay, and the post-login worker gets the other end of a stream socketpair. No
// socket, bind, connect, listen or accept: it speaks only on what it was given.
constexpr Rule kPreauthRules[] = {
    allow(SCMP_SYS(socketpair), eq(0, AF_UNIX), kStream),
    // ... and then narrows itself to the relay's profile: a filter can only take away.
    allow(SCMP_SYS(seccomp), eq(0, SECCOMP_SET_MODE_FILTER)),
};
// The TLS relay (the pre-login worker after a TLS login) gets kEventLoopRules alone,
// stacked on its pre-login filter: no socketpair, no further filters.

// Post-auth: data connections, TCP over IPv4/IPv6 and nothing else (no netlink, raw,
// UDP). PASV binds, listens and accepts; PORT without connect_from_port_20 connects.
constexpr Rule kDataConnectionRules[] = {
    allow(SCMP_SYS(socket), eq(0, AF_INET), kStream, eq(2, 0)),
    allow(SCMP_SYS(socket), eq(0, AF_INET), kStream, eq(2, IPPROTO_TCP)),
    allow(SCMP_SYS(socket), eq(0, AF_INET6), kStream, eq(2, 0)),
    allow(SCMP_SYS(socket), eq(0, AF_INET6), kStream, eq(2, IPPROTO_TCP)),
    allow(SCMP_SYS(bind)), allow(SCMP_SYS(listen)), allow(SCMP_SYS(accept)),
    allow(SCMP_SYS(accept4)),
};

// PORT without connect_from_port_20. With it the helper connects from port 20 and
// hands over a connected socket; connect() would let a worker detach it (AF_UNSPEC)
// and connect it elsewhere, so it is left out.
constexpr Rule kActiveConnectRules[] = {
    allow(SCMP_SYS(connect)),
};

// Post-auth: record locks on uploads and downloads (lock_upload_files).
constexpr Rule kLockRules[] = {
    allow(SCMP_SYS(fcntl), eq(1, F_GETLK)), allow(SCMP_SYS(fcntl), eq(1, F_SETLK)),
    allow(SCMP_SYS(fcntl), eq(1, F_SETLKW)), allow(SCMP_SYS(fcntl), eq(1, F_OFD_GETLK)),
    allow(SCMP_SYS(fcntl), eq(1, F_OFD_SETLK)), allow(SCMP_SYS(fcntl), eq(1, F_OFD_SETLKW)),
};

// Post-auth, any policy: browsing and downloading inside the session root.
constexpr Rule kPostauthRules[] = {
    allow(SCMP_SYS(getdents64)), allow(SCMP_SYS(readlink)),
    allow(SCMP_SYS(readlinkat)),  // path checks follow links
    allow(SCMP_SYS(chdir)),      allow(SCMP_SYS(fchdir)),
    allow(SCMP_SYS(getcwd)),
    allow(SCMP_SYS(sendfile)),  // binary RETR
    allow(SCMP_SYS(umask)),     // SITE UMASK
};

// write_enable=NO: opens for reading only. A write open is a bug or an attack: kill.
constexpr Rule kReadOnlyOpenRules[] = {
    allow(SCMP_SYS(openat), masked(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
};

// write_enable=YES: uploads and the commands that change the tree.
constexpr Rule kWriteRules[] = {
    allow(SCMP_SYS(openat)),    allow(SCMP_SYS(pwrite64)), allow(SCMP_SYS(unlinkat)),
    allow(SCMP_SYS(unlink)),    allow(SCMP_SYS(mkdir)),    allow(SCMP_SYS(mkdirat)),
    allow(SCMP_SYS(rmdir)),     allow(SCMP_SYS(renameat)), allow(SCMP_SYS(renameat2)),
    allow(SCMP_SYS(rename)),    allow(SCMP_SYS(fchmod)),   allow(SCMP_SYS(fchmodat)),
    allow(SCMP_SYS(chmod)),
    allow(SCMP_SYS(utimensat)),  // MFMT
    allow(SCMP_SYS(ftruncate)),  // STOR over an existing file, REST
    allow(SCMP_SYS(fallocate)), allow(SCMP_SYS(fsync)),    allow(SCMP_SYS(fdatasync)),
    allow(SCMP_SYS(splice)),  // STOR: socket -> pipe -> file, no copy through user space
    // ...through a pipe sized for it (a default 64 KiB pipe means 16 splices per MiB)
    allow(SCMP_SYS(fcntl), eq(1, F_SETPIPE_SZ)), allow(SCMP_SYS(fcntl), eq(1, F_GETPIPE_SZ)),
};
// clang-format on

// The key holder (privsep/key_holder.cpp), after it has loaded the key, dropped to
// nopriv_user and chrooted: it reads a request on its socket, signs, answers, and exits
// when the helper goes. Not the event-loop table: no files, no descriptors to manage,
// no sockets, no signals, no clocks beyond OpenSSL's.
constexpr Rule kKeyHolderRules[] = {
    allow(SCMP_SYS(recvmsg)),  // ipc_recv: a KEY_SIGN request from the helper
    allow(SCMP_SYS(sendmsg)),  // ipc_send: the signature back
    allow(SCMP_SYS(close)),    // ipc_recv closes any descriptor a request carried
    allow(SCMP_SYS(write)),    // its one error line on stderr before it exits
    // OpenSSL's bignums and contexts, through malloc; never executable memory.
    allow(SCMP_SYS(mmap), kNoExec), allow(SCMP_SYS(mprotect), kNoExec),
    allow(SCMP_SYS(munmap)), allow(SCMP_SYS(mremap)), allow(SCMP_SYS(brk)),
    allow(SCMP_SYS(madvise)),        // malloc returns memory to the kernel
    allow(SCMP_SYS(futex)),          // OpenSSL's locks and run-once initialisation
    allow(SCMP_SYS(getrandom)),      // ECDSA nonces, RSA blinding: the DRBG's seed
    allow(SCMP_SYS(getpid)),         // OpenSSL's DRBG notices a fork by the pid
    allow(SCMP_SYS(clock_gettime)),  // the DRBG's reseed time (the vDSO's fallback)
    allow(SCMP_SYS(exit)), allow(SCMP_SYS(exit_group)),  // the helper has gone: _exit
};

// Both tcp_wrappers children (privsep/wrappers.cpp), as nopriv_user without a chroot:
// they read /etc (the tables, NSS's files) but never open anything for writing, start
// a program or change credentials.
constexpr Rule kWrappersCommonRules[] = {
    allow(SCMP_SYS(read)), allow(SCMP_SYS(write)),  // files; their socket; the verdict pipe
    allow(SCMP_SYS(close)),
    // fopen(path, "r"): hosts.allow, hosts.deny, files named in their patterns,
    // /etc/hosts and NSS's configuration. A write open is an attack: kill.
    allow(SCMP_SYS(openat), masked(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
    allow(SCMP_SYS(fstat)), allow(SCMP_SYS(newfstatat)),  // stdio sizes its buffer
    allow(SCMP_SYS(lseek)),                                // stdio, on fclose
    // malloc and stdio's buffers; never anonymous executable memory.
    allow(SCMP_SYS(mmap), kNoExec), allow(SCMP_SYS(mprotect), kNoExec),
    allow(SCMP_SYS(munmap)), allow(SCMP_SYS(brk)),
    allow(SCMP_SYS(getpid)),  // libwrap's %p; syslog()'s header
    allow(SCMP_SYS(clock_gettime)), allow(SCMP_SYS(gettimeofday)),  // syslog() time stamps
    // libwrap's and NSS's syslog() and nscd tries: AF_UNIX is refused, not fatal.
    refuse(SCMP_SYS(socket), EACCES, eq(0, AF_UNIX)),
    allow(SCMP_SYS(tgkill), eq(0, kSelfPid)),  // abort() signals itself, nobody else
    allow(SCMP_SYS(restart_syscall)),  // a poll with a timeout resumed after a stop (SIGSTOP, a tracer)
    allow(SCMP_SYS(exit)), allow(SCMP_SYS(exit_group)),
};

// The judge: hosts_access() on the client's address, asking the resolver for the name
// over its socket. No socket creation at all: it can reach nothing but the resolver.
// (kWrappersCommonRules is all it needs.)

// The resolver: one reverse and one forward lookup through glibc (files, DNS over UDP
// and TCP), answered on its socket to the judge.
constexpr scmp_arg_cmp kDatagram = masked(1, ~uint32_t{SOCK_NONBLOCK | SOCK_CLOEXEC}, SOCK_DGRAM);
constexpr Rule kResolverRules[] = {
    // DNS queries, and getaddrinfo's sorting of several answers (a UDP socket
    // connected to each, to learn the source address it would use).
    allow(SCMP_SYS(socket), eq(0, AF_INET), kDatagram), allow(SCMP_SYS(socket), eq(0, AF_INET6), kDatagram),
    allow(SCMP_SYS(socket), eq(0, AF_INET), kStream), allow(SCMP_SYS(socket), eq(0, AF_INET6), kStream),
    // getaddrinfo's look at the interfaces (netlink): refused, it then assumes both families.
    refuse(SCMP_SYS(socket), EACCES, eq(0, AF_NETLINK)),
    allow(SCMP_SYS(connect)),  // to the name servers of resolv.conf
    allow(SCMP_SYS(sendto)), allow(SCMP_SYS(sendmmsg)), allow(SCMP_SYS(recvfrom)),
    allow(SCMP_SYS(writev)),  // a query over TCP after a truncated answer
    allow(SCMP_SYS(poll)), allow(SCMP_SYS(ppoll)),  // the resolver's timeouts
    allow(SCMP_SYS(setsockopt)), allow(SCMP_SYS(getsockname)),
    allow(SCMP_SYS(ioctl), eq(1, FIONREAD)),  // the size of a waiting answer
    allow(SCMP_SYS(uname)),       // res_init: the host's name for the search domain
    allow(SCMP_SYS(statx)),       // resolv.conf changed since the last lookup?
    allow(SCMP_SYS(getrandom)),   // query ids
    allow(SCMP_SYS(futex)),       // NSS's locks
    // NSS modules outside glibc (mdns, resolve, myhostname) are dlopened: a file
    // mapped executable, never anonymous memory.
    allow(SCMP_SYS(mmap), masked(3, MAP_ANONYMOUS, 0)),
};

#ifdef MOAT_SANITIZERS
// ASan/UBSan builds (configure --enable-sanitizers): what the runtime itself needs.
constexpr Rule kSanitizerRules[] = {
    allow(SCMP_SYS(sigaltstack)),  // ASan's own signal stack, set up lazily
};
#endif

#ifdef MOAT_SECCOMP_DEBUG
constexpr uint32_t kDefaultAction = SCMP_ACT_TRAP;
#else
constexpr uint32_t kDefaultAction = SCMP_ACT_KILL_PROCESS;
#endif

struct CtxRelease {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;

// The tables are written and tested for these; elsewhere the syscalls glibc uses
// differ (e.g. mmap2, socketcall on i386), so refuse rather than guess.
bool supported_arch(uint32_t arch) { return arch == SCMP_ARCH_X86_64 || arch == SCMP_ARCH_AARCH64; }

Status add_rules(scmp_filter_ctx ctx, std::span<const Rule> rules, int omit, uint32_t self_pid) {
  for (Rule r : rules) {
    if (r.nr < 0) continue;  // not a syscall on this architecture: nothing to allow
    if (r.nr == omit) continue;
    for (unsigned i = 0; i < r.ncmp; ++i) {
      if (r.cmp[i].datum_a == kSelfPid) r.cmp[i].datum_a = self_pid;
    }
    const int rc = seccomp_rule_add_array(ctx, r.action, r.nr, r.ncmp, r.cmp.data());
    if (rc != 0) {
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r.nr);
      std::string what = name != nullptr ? name : std::to_string(r.nr);
      std::free(name);
      return fail("seccomp: rule for " + what + ": " + errno_text(-rc));
    }
  }
  return Ok{};
}

Status add_profile(scmp_filter_ctx ctx, const SeccompPolicy& policy, uint32_t pid) {
  const int omit = policy.omit_syscall;
#ifdef MOAT_SANITIZERS
  if (auto s = add_rules(ctx, kSanitizerRules, omit, pid); !s) return s;
#endif
  if (policy.profile == SeccompProfile::kKeyHolder) return add_rules(ctx, kKeyHolderRules, omit, pid);
  if (policy.profile == SeccompProfile::kWrappers || policy.profile == SeccompProfile::kResolver) {
    if (auto s = add_rules(ctx, kWrappersCommonRules, omit, pid); !s) return s;
    if (policy.profile == SeccompProfile::kWrappers) return Ok{};
    return add_rules(ctx, kResolverRules, omit, pid);
  }
  if (auto s = add_rules(ctx, kEventLoopRules, omit, pid); !s) return s;
  if (policy.profile == SeccompProfile::kRelay) return Ok{};
  if (policy.profile == SeccompProfile::kPreauth) return add_rules(ctx, kPreauthRules, omit, pid);
  if (auto s = add_rules(ctx, kPostauthRules, omit, pid); !s) return s;
  if (auto s = add_rules(ctx, kDataConnectionRules, omit, pid); !s) return s;
  if (auto s = add_rules(ctx, kLockRules, omit, pid); !s) return s;
  if (!policy.port20_from_helper)
    if (auto s = add_rules(ctx, kActiveConnectRules, omit, pid); !s) return s;
  return add_rules(ctx,
                   policy.write_enable ? std::span<const Rule>(kWriteRules)
                                       : std::span<const Rule>(kReadOnlyOpenRules),
                   omit, pid);
}

#ifdef MOAT_SECCOMP_DEBUG
// Names resolved before the filter is loaded: the SIGSYS handler may only read them.
constexpr int kNamedSyscalls = 512;
char g_syscall_names[kNamedSyscalls][32];

void resolve_names() {
  for (int nr = 0; nr < kNamedSyscalls; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) continue;
    std::strncpy(g_syscall_names[nr], name, sizeof g_syscall_names[nr] - 1);
    std::free(name);
  }
}

void append(char* buf, size_t& len, size_t cap, const char* s) {
  while (*s != '\0' && len + 1 < cap) buf[len++] = *s++;
}

// Async-signal-safe: formats by hand, writes, and re-raises with the default action
// (SA_RESETHAND) so the process still dies of SIGSYS once the handler returns.
void report_sigsys(int, siginfo_t* si, void*) {
  char buf[128];
  size_t len = 0;
  append(buf, len, sizeof buf, "moatftpd: seccomp: forbidden system call ");
  const int nr = si->si_syscall;
  char digits[12];
  int d = 0;
  unsigned v = nr < 0 ? 0U : static_cast<unsigned>(nr);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && d < 11);
  while (d > 0 && len + 1 < sizeof buf) buf[len++] = digits[--d];
  if (nr >= 0 && nr < kNamedSyscalls && g_syscall_names[nr][0] != '\0') {
    append(buf, len, sizeof buf, " (");
    append(buf, len, sizeof buf, g_syscall_names[nr]);
    append(buf, len, sizeof buf, ")");
  }
  append(buf, len, sizeof buf, "\n");
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, buf, len);
  raise(SIGSYS);
}

Status install_reporter() {
  resolve_names();
  struct sigaction sa {};
  sa.sa_sigaction = report_sigsys;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, nullptr) != 0) return fail("seccomp: sigaction: " + errno_text(errno));
  return Ok{};
}
#endif

// The post-login worker's filter is the one the kernel caches (see kSkipKernelCache).
bool kernel_caches(const SeccompPolicy& policy) {
  return policy.profile == SeccompProfile::kPostauth;
}

Result<Ctx> build_filter(const SeccompPolicy& policy, uint32_t default_action, uint32_t pid) {
  if (!supported_arch(seccomp_arch_native())) {
    return fail("seccomp: no allow-list for this architecture; set seccomp_sandbox=NO");
  }
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return fail("seccomp: seccomp_init failed");
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc == 0 && kernel_caches(policy)) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc != 0) return fail("seccomp: filter attributes: " + errno_text(-rc));
  if (auto s = add_profile(ctx.get(), policy, pid); !s) return fail(s.error());
  return ctx;
}

// ---- filters compiled once, in the master -----------------------------------------
// libseccomp takes about 0.7 ms to build a filter, twice per login and once more per
// TLS session (its key holder). The master builds the production filters once, with a
// placeholder where the worker's own pid goes (tgkill's rule; the key holder's has
// none); a worker copies the program, puts its pid in, and loads it.

constexpr uint32_t kPidPlaceholder = 0x7fff5eccU;  // above any pid_max (2^22)

struct Compiled {
  bool ready = false;
  std::vector<sock_filter> insns;
};
// pre-auth; post-auth by write_enable and connect_from_port_20; relay; key holder;
// the tcp_wrappers judge and resolver
std::array<Compiled, 9> g_compiled;

std::size_t compiled_index(const SeccompPolicy& p) {
  if (p.profile == SeccompProfile::kPreauth) return 0;
  if (p.profile == SeccompProfile::kRelay) return 5;
  if (p.profile == SeccompProfile::kKeyHolder) return 6;
  if (p.profile == SeccompProfile::kWrappers) return 7;
  if (p.profile == SeccompProfile::kResolver) return 8;
  return 1 + (p.write_enable ? 1 : 0) + (p.port20_from_helper ? 2 : 0);
}

bool is_pid_test(const sock_filter& f) {
  return BPF_CLASS(f.code) == BPF_JMP && BPF_SRC(f.code) == BPF_K && f.k == kPidPlaceholder;
}

// When a filter is attached, the kernel runs it in an emulator for every system call
// number of every architecture, to cache the calls it allows whatever their arguments
// (seccomp_cache_prepare); a cached call skips the filter. The emulator follows the
// program as libseccomp lays it out: a linear list of 130 instructions took 120 us
// here per load, for the calls of a worker that makes a few dozen. So the short-lived
// filters open with a load of the instruction pointer, where the emulator stops: no
// call is cached, every call runs the filter (the load means nothing: libseccomp's
// program starts by loading the architecture over it). The post-login worker's is
// built as a binary tree instead, which the emulator walks in 3 us, and left
// cacheable: a listing of 10,000 entries makes 10,000 newfstatat, a transfer a
// sendfile or read per wake-up. A tree costs 15 us more to load (it is longer),
// so the others stay linear.
constexpr sock_filter kSkipKernelCache =
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, instruction_pointer));

bool loads_arch(const sock_filter& f) {
  return f.code == (BPF_LD | BPF_W | BPF_ABS) && f.k == offsetof(seccomp_data, arch);
}

Result<std::vector<sock_filter>> export_program(scmp_filter_ctx ctx, const SeccompPolicy& policy) {
  UniqueFd fd(memfd_create("moat-seccomp", MFD_CLOEXEC));
  if (!fd) return fail("seccomp: memfd_create: " + errno_text(errno));
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc != 0)
    return fail("seccomp: exporting the filter: " + errno_text(-rc));
  off_t size = lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 || size > (1 << 20))
    return fail("seccomp: exported filter has a bad size");
  std::vector<sock_filter> insns(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(fd.get(), insns.data(), static_cast<size_t>(size), 0) != size)
    return fail("seccomp: reading the exported filter: " + errno_text(errno));
  if (!loads_arch(insns.front())) return fail("seccomp: the filter does not start with its arch test");
  if (!kernel_caches(policy)) insns.insert(insns.begin(), kSkipKernelCache);
  return insns;
}

Status compile(const SeccompPolicy& policy) {
  auto ctx = build_filter(policy, kDefaultAction, kPidPlaceholder);
  if (!ctx) return fail(ctx.error());
  auto insns = export_program(ctx->get(), policy);
  if (!insns) return fail(insns.error());
  if (policy.profile != SeccompProfile::kKeyHolder &&
      std::none_of(insns->begin(), insns->end(), is_pid_test))
    return fail("seccomp: the compiled filter has no pid test to fill in");
  Compiled& c = g_compiled[compiled_index(policy)];
  c.insns = std::move(*insns);
  c.ready = true;
  return Ok{};
}

Status load_program(std::vector<sock_filter>& insns, bool set_no_new_privs) {
  sock_fprog prog{static_cast<unsigned short>(insns.size()), insns.data()};
  // A process under a filter already has no_new_privs, and may not ask for it again.
  if (set_no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return fail("seccomp: no_new_privs: " + errno_text(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    return fail("seccomp: loading the filter: " + errno_text(errno));
  return Ok{};
}

Status load_compiled(const Compiled& c, bool set_no_new_privs = true) {
  std::vector<sock_filter> insns = c.insns;
  const auto pid = static_cast<uint32_t>(getpid());
  for (sock_filter& f : insns)
    if (is_pid_test(f)) f.k = pid;
  return load_program(insns, set_no_new_privs);
}

// Built on the spot: violations kill the process (production) or raise SIGSYS (the
// start-up self-test).
Status load_filter(const SeccompPolicy& policy, uint32_t default_action) {
  auto ctx = build_filter(policy, default_action, static_cast<uint32_t>(getpid()));
  if (!ctx) return fail(ctx.error());
  auto insns = export_program(ctx->get(), policy);
  if (!insns) return fail(insns.error());
  return load_program(*insns, true);
}

}  // namespace

Status seccomp_precompile() {
  if (auto s = compile({SeccompProfile::kPreauth}); !s) return s;
  if (auto s = compile({SeccompProfile::kRelay}); !s) return s;
  if (auto s = compile({SeccompProfile::kKeyHolder}); !s) return s;
  if (auto s = compile({SeccompProfile::kWrappers}); !s) return s;
  if (auto s = compile({SeccompProfile::kResolver}); !s) return s;
  for (bool write : {false, true})
    for (bool port20 : {false, true})
      if (auto s = compile({SeccompProfile::kPostauth, write, port20}); !s) return s;
  return Ok{};
}

Status seccomp_install(const SeccompPolicy& policy) {
#ifdef MOAT_SECCOMP_DEBUG
  if (auto s = install_reporter(); !s) return s;
#endif
  const Compiled& c = g_compiled[compiled_index(policy)];
  if (c.ready && policy.omit_syscall < 0) return load_compiled(c);
  return load_filter(policy, kDefaultAction);
}

Result<std::vector<sock_filter>> seccomp_program(const SeccompPolicy& policy) {
  auto ctx = build_filter(policy, kDefaultAction, kPidPlaceholder);
  if (!ctx) return fail(ctx.error());
  return export_program(ctx->get(), policy);
}

Status seccomp_enter_relay() {
  const Compiled& c = g_compiled[compiled_index({SeccompProfile::kRelay})];
  if (!c.ready) return fail("seccomp: the relay's filter was not compiled");
  return load_compiled(c, false);
}

Status seccomp_install_trapping(const SeccompPolicy& policy) {
  return load_filter(policy, SCMP_ACT_TRAP);
}

}  // namespace moat
