// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for privsep/sandbox and privsep/seccomp. Each case runs in a forked child
// (the suite runs as root) that reports failures through a pipe; a forbidden system
// call must kill the child with SIGSYS.
#include "privsep/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace moat {
namespace {

constexpr uid_t kNobody = 65534;
pid_t g_parent_pid = 0;  // the test process, recorded before each fork

struct ChildResult {
  int status = 0;
  std::string message;  // what the child wrote before exiting
};

std::string describe(const ChildResult& r) {
  std::string s;
  if (WIFEXITED(r.status)) s = "exited " + std::to_string(WEXITSTATUS(r.status));
  if (WIFSIGNALED(r.status)) s = "killed by signal " + std::to_string(WTERMSIG(r.status));
  return s + (r.message.empty() ? "" : ": " + r.message);
}

// Runs body in a child. The body returns "" on success or what went wrong.
ChildResult run_child(const std::function<std::string(int report_fd)>& body) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {-1, "pipe failed"};
  g_parent_pid = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    const std::string err = body(p[1]);
    if (!err.empty()) {
      [[maybe_unused]] ssize_t n = write(p[1], err.data(), err.size());
      _exit(1);
    }
    _exit(0);
  }
  close(p[1]);
  ChildResult r;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) r.message.append(buf, static_cast<size_t>(n));
  close(p[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

bool succeeded(const ChildResult& r) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }
bool killed_by_sigsys(const ChildResult& r) {
  return WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS;
}

std::string err_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A chroot: 0755 root-owned, with /marker ("moat") and a world-writable /upload.
class SandboxFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-sandbox-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    FILE* f = std::fopen((root_ + "/marker").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("moat", f);
    std::fclose(f);
    ASSERT_EQ(mkdir((root_ + "/upload").c_str(), 0777), 0);
    ASSERT_EQ(chmod((root_ + "/upload").c_str(), 0777), 0);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  Identity nobody(const std::string& start = "/") const {
    return Identity{kNobody, kNobody, {kNobody}, root_, start};
  }

  std::string root_;
};

using SandboxEnter = SandboxFixture;

TEST_F(SandboxEnter, RefusesUidZeroAndChangesNothing) {
  const std::string outside = root_ + "/marker";
  auto r = run_child([&](int) -> std::string {
    Identity id{0, 0, {0}, root_, "/"};
    auto s = sandbox_enter(id, false, {});
    if (s.ok()) return "uid 0 accepted";
    if (s.error().find("uid 0") == std::string::npos) return "unexpected error: " + s.error();
    if (getuid() != 0) return "identity changed";
    if (access(outside.c_str(), F_OK) != 0) return "chroot happened anyway";
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

std::string check_identity() {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) return err_text("getres*id");
  if (ru != kNobody || eu != kNobody || su != kNobody) return "uids not all 65534";
  if (rg != kNobody || eg != kNobody || sg != kNobody) return "gids not all 65534";
  gid_t groups[8];
  if (getgroups(8, groups) != 1 || groups[0] != kNobody) return "supplementary groups wrong";
  if (setuid(0) == 0) return "could setuid(0)";
  return "";
}

std::string check_limits() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NPROC, &lim) != 0 || lim.rlim_cur != 0 || lim.rlim_max != 0) return "NPROC";
  if (getrlimit(RLIMIT_CORE, &lim) != 0 || lim.rlim_cur != 0 || lim.rlim_max != 0) return "CORE";
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 64 || lim.rlim_max != 64)
    return "NOFILE";
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) return "fork succeeded under RLIMIT_NPROC 0";
  return "";
}

// Issue 11, point 10: an inherited hard limit below the sandbox's own is kept, not
// raised (which fails without privilege and used to end every session).
TEST_F(SandboxEnter, KeepsALowerInheritedFileLimit) {
  auto r = run_child([&](int) -> std::string {
    const rlimit low{16, 16};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) return err_text("setrlimit");
    if (auto s = sandbox_enter(nobody(), false, {}); !s) return s.error();
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 16 || lim.rlim_max != 16)
      return "NOFILE is not 16";
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

TEST_F(SandboxEnter, DropsIdentityChrootsAndLocks) {
  const std::string outside = root_ + "/marker";
  auto r = run_child([&](int) -> std::string {
    if (auto s = sandbox_enter(nobody(), false, {}); !s) return s.error();
    if (auto e = check_identity(); !e.empty()) return e;
    if (auto e = check_limits(); !e.empty()) return "rlimit: " + e;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return "no_new_privs not set";
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return "still dumpable";
    if (access("/marker", F_OK) != 0) return "/marker not visible: not chrooted here";
    if (access(outside.c_str(), F_OK) == 0) return "the host's path is still visible";
    char cwd[64];
    if (getcwd(cwd, sizeof cwd) == nullptr || std::string(cwd) != "/") return "cwd is not /";
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

TEST_F(SandboxEnter, StartDirIsEnteredAsTheNewUser) {
  auto r = run_child([&](int) -> std::string {
    if (auto s = sandbox_enter(nobody("/upload"), false, {}); !s) return s.error();
    char cwd[64];
    if (getcwd(cwd, sizeof cwd) == nullptr || std::string(cwd) != "/upload") return "cwd wrong";
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
  // A start directory the user may not enter is an error, not a silent "/".
  ASSERT_EQ(mkdir((root_ + "/private").c_str(), 0700), 0);
  auto denied = run_child([&](int) -> std::string {
    auto s = sandbox_enter(nobody("/private"), false, {});
    return s.ok() ? "entered a 0700 root directory" : "";
  });
  EXPECT_TRUE(succeeded(denied)) << describe(denied);
}

TEST_F(SandboxEnter, MissingChrootIsAnError) {
  auto r = run_child([&](int) -> std::string {
    Identity id = nobody();
    id.chroot_dir = root_ + "/does-not-exist";
    return sandbox_enter(id, false, {}).ok() ? "accepted" : "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

TEST(SandboxCloseFds, KeepsOnlyListedDescriptors) {
  auto r = run_child([](int report) -> std::string {
    std::vector<int> fds;
    for (int i = 0; i < 5; ++i) fds.push_back(open("/dev/null", O_RDONLY));
    const int high = dup2(fds[0], 50);
    const int std_before = fcntl(2, F_GETFD);
    close_fds_except({fds[1], fds[3], high, report, -1, 1});
    for (int i = 0; i < 5; ++i) {
      const bool open_now = fcntl(fds[i], F_GETFD) != -1;
      if (open_now != (i == 1 || i == 3)) return "fd " + std::to_string(fds[i]) + " wrong";
    }
    if (fcntl(high, F_GETFD) == -1) return "fd 50 closed";
    if (fcntl(51, F_GETFD) != -1 || fcntl(4000, F_GETFD) != -1) return "stray fd open";
    if (fcntl(2, F_GETFD) != std_before) return "stderr touched";
    close_fds_except({report});
    if (fcntl(fds[1], F_GETFD) != -1 || fcntl(high, F_GETFD) != -1) return "second pass kept fds";
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

// ---- seccomp: what must kill ------------------------------------------------------

struct Forbidden {
  const char* name;
  SeccompPolicy policy;
  long (*call)();
};

constexpr SeccompPolicy kPre{SeccompProfile::kPreauth, false};
constexpr SeccompPolicy kPostRead{SeccompProfile::kPostauth, false};
constexpr SeccompPolicy kPostWrite{SeccompProfile::kPostauth, true};

char* const kArgv[] = {const_cast<char*>("/bin/true"), nullptr};
alignas(4096) char g_page[4096];

long sys_execve() { return syscall(SYS_execve, "/bin/true", kArgv, nullptr); }
long sys_execveat() { return syscall(SYS_execveat, AT_FDCWD, "/bin/true", kArgv, nullptr, 0); }
long sys_ptrace() { return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0); }
long sys_netlink() { return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); }
long sys_packet() { return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); }
long sys_udp() { return syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0); }
long sys_raw() { return syscall(SYS_socket, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }
long sys_mptcp() { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */); }
long sys_socketpair() { return syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, g_page); }
// Pre-auth may make a stream socketpair (the TLS relay at login), nothing else.
long sys_socketpair_seqpacket() {
  return syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET, 0, g_page);
}
long sys_open_marker() { return syscall(SYS_openat, AT_FDCWD, "/marker", O_RDONLY); }
long sys_open_legacy() { return syscall(SYS_open, "/marker", O_RDONLY); }
long sys_clone() { return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }
long sys_clone3() { return syscall(SYS_clone3, nullptr, 0); }
long sys_kill_self() { return syscall(SYS_kill, getpid(), 0); }
long sys_tgkill_parent() { return syscall(SYS_tgkill, g_parent_pid, g_parent_pid, 0); }
long sys_mmap_exec() {
  return syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                 0);
}
long sys_mprotect_exec() { return syscall(SYS_mprotect, g_page, 4096, PROT_READ | PROT_EXEC); }
long sys_ioctl_tiocsti() { return syscall(SYS_ioctl, 0, TIOCSTI, "x"); }
long sys_setrlimit() {
  static rlimit lim{1024, 1024};
  return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lim, nullptr);
}
long sys_setuid() { return syscall(SYS_setuid, 0); }
long sys_chroot() { return syscall(SYS_chroot, "/"); }
long sys_unshare() { return syscall(SYS_unshare, CLONE_NEWUSER); }
long sys_getppid() { return syscall(SYS_getppid); }
long sys_getdents() { return syscall(SYS_getdents64, 0, g_page, sizeof g_page); }
long sys_open_wronly_creat() {
  return syscall(SYS_openat, AT_FDCWD, "/upload/new", O_WRONLY | O_CREAT, 0644);
}
long sys_open_rdwr() { return syscall(SYS_openat, AT_FDCWD, "/marker", O_RDWR); }
long sys_open_trunc() { return syscall(SYS_openat, AT_FDCWD, "/marker", O_RDONLY | O_TRUNC); }
long sys_open_creat() {
  return syscall(SYS_openat, AT_FDCWD, "/upload/n", O_RDONLY | O_CREAT, 0644);
}
long sys_unlinkat() { return syscall(SYS_unlinkat, AT_FDCWD, "/upload/x", 0); }
long sys_mkdir() { return syscall(SYS_mkdir, "/upload/d", 0755); }
long sys_renameat() { return syscall(SYS_renameat, AT_FDCWD, "/marker", AT_FDCWD, "/upload/m"); }
long sys_ftruncate() { return syscall(SYS_ftruncate, 0, 0); }
long sys_pwrite() { return syscall(SYS_pwrite64, 1, "x", 1, 0); }
long sys_fchownat() { return syscall(SYS_fchownat, AT_FDCWD, "/upload", 0, 0, 0); }
long sys_symlink() { return syscall(SYS_symlinkat, "/", AT_FDCWD, "/upload/l"); }
long sys_link() { return syscall(SYS_linkat, AT_FDCWD, "/marker", AT_FDCWD, "/upload/h", 0); }

const Forbidden kForbidden[] = {
    {"pre_execve", kPre, sys_execve},
    {"pre_execveat", kPre, sys_execveat},
    {"pre_ptrace", kPre, sys_ptrace},
    {"pre_socket_netlink", kPre, sys_netlink},
    {"pre_socket_packet", kPre, sys_packet},
    {"pre_socket_udp", kPre, sys_udp},
    {"pre_socket_raw6", kPre, sys_raw},
    {"pre_socket_mptcp", kPre, sys_mptcp},
    {"pre_socketpair_seqpacket", kPre, sys_socketpair_seqpacket},
    {"pre_openat", kPre, sys_open_marker},
    {"pre_open", kPre, sys_open_legacy},
    {"pre_getdents64", kPre, sys_getdents},
    {"pre_clone", kPre, sys_clone},
    {"pre_clone3", kPre, sys_clone3},
    {"pre_kill", kPre, sys_kill_self},
    {"pre_tgkill_other_process", kPre, sys_tgkill_parent},
    {"pre_mmap_exec", kPre, sys_mmap_exec},
    {"pre_mprotect_exec", kPre, sys_mprotect_exec},
    {"pre_ioctl_tiocsti", kPre, sys_ioctl_tiocsti},
    {"pre_setrlimit", kPre, sys_setrlimit},
    {"pre_setuid", kPre, sys_setuid},
    {"pre_chroot", kPre, sys_chroot},
    {"pre_unshare", kPre, sys_unshare},
    {"pre_getppid", kPre, sys_getppid},
    {"pre_pwrite64", kPre, sys_pwrite},
    {"ro_open_wronly_creat", kPostRead, sys_open_wronly_creat},
    {"ro_open_rdwr", kPostRead, sys_open_rdwr},
    {"ro_open_trunc", kPostRead, sys_open_trunc},
    {"ro_open_creat", kPostRead, sys_open_creat},
    {"ro_unlinkat", kPostRead, sys_unlinkat},
    {"ro_mkdir", kPostRead, sys_mkdir},
    {"ro_renameat", kPostRead, sys_renameat},
    {"ro_ftruncate", kPostRead, sys_ftruncate},
    {"ro_pwrite64", kPostRead, sys_pwrite},
    {"ro_execve", kPostRead, sys_execve},
    {"rw_execve", kPostWrite, sys_execve},
    {"rw_ptrace", kPostWrite, sys_ptrace},
    {"rw_socket_netlink", kPostWrite, sys_netlink},
    {"rw_clone", kPostWrite, sys_clone},
    {"rw_fchownat", kPostWrite, sys_fchownat},
    {"rw_symlinkat", kPostWrite, sys_symlink},
    {"rw_linkat", kPostWrite, sys_link},
    {"rw_mmap_exec", kPostWrite, sys_mmap_exec},
    {"rw_chroot", kPostWrite, sys_chroot},
    {"rw_socketpair", kPostWrite, sys_socketpair},
    {"ro_socketpair", kPostRead, sys_socketpair},
};

void PrintTo(const Forbidden& f, std::ostream* os) { *os << f.name; }

class SandboxForbidden : public SandboxFixture, public ::testing::WithParamInterface<Forbidden> {};

TEST_P(SandboxForbidden, KillsWithSigsys) {
  const Forbidden& f = GetParam();
  auto r = run_child([&](int) -> std::string {
    if (auto s = sandbox_enter(nobody(), true, f.policy); !s) return s.error();
    const long rc = f.call();
    return std::string("survived: returned ") + std::to_string(rc) + " errno " +
           std::strerror(errno);
  });
  EXPECT_TRUE(killed_by_sigsys(r)) << f.name << ": " << describe(r);
}

// The same, with the filters compiled beforehand as the master does (the worker only
// fills in its pid): the precompiled programs must forbid exactly as much.
TEST_P(SandboxForbidden, KillsWithSigsysWhenPrecompiled) {
  const Forbidden& f = GetParam();
  if (f.policy.omit_syscall >= 0) GTEST_SKIP() << "omit_syscall builds its own filter";
  auto r = run_child([&](int) -> std::string {
    if (auto s = seccomp_precompile(); !s) return s.error();
    if (auto s = sandbox_enter(nobody(), true, f.policy); !s) return s.error();
    const long rc = f.call();
    return std::string("survived: returned ") + std::to_string(rc) + " errno " +
           std::strerror(errno);
  });
  EXPECT_TRUE(killed_by_sigsys(r)) << f.name << ": " << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Sandbox, SandboxForbidden, ::testing::ValuesIn(kForbidden),
                         [](const auto& p) { return std::string(p.param.name); });

// ---- seccomp: what must keep working ------------------------------------------------

std::string check_event_loop_calls() {
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return err_text("pipe2");
  if (write(p[1], "ping", 4) != 4) return err_text("write");
  int avail = 0;
  if (ioctl(p[0], FIONREAD, &avail) != 0 || avail != 4) return err_text("FIONREAD");
  char buf[8];
  if (read(p[0], buf, sizeof buf) != 4 || std::memcmp(buf, "ping", 4) != 0) return err_text("read");
  close(p[0]);
  close(p[1]);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  const int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ep < 0 || ev < 0) return err_text("epoll/eventfd");
  epoll_event e{};
  e.events = EPOLLIN;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) return err_text("epoll_ctl");
  if (epoll_wait(ep, &e, 1, 0) != 0) return "epoll_wait";
  uint64_t rnd;
  if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) return err_text("getrandom");
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return err_text("getrlimit");
  void* m = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || munmap(m, 1 << 20) != 0) return err_text("mmap");
  std::string big(4 << 20, 'x');  // malloc through mmap and brk
  return "";
}

std::string check_sockets() {
  const int s4 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int s6 = socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
  if (s4 < 0 || s6 < 0) return err_text("TCP socket");
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s4, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return err_text("bind");
  if (listen(s4, 1) != 0) return err_text("listen");
  close(s4);
  close(s6);
  if (socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) != -1 || errno != EACCES) {
    return "AF_UNIX socket did not fail with EACCES";
  }
  if (ioctl(2, TCGETS, g_page) != -1 || errno != ENOTTY) return "TCGETS did not fail with ENOTTY";
  return "";
}

TEST_F(SandboxEnter, PreauthKeepsTheEventLoopWorking) {
  auto r = run_child([&](int report) -> std::string {
    if (auto s = sandbox_enter(nobody(), true, kPre); !s) return s.error();
    if (auto e = check_event_loop_calls(); !e.empty()) return e;
    if (socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) != -1 || errno != EACCES)
      return "AF_UNIX socket did not fail with EACCES";
    if (write(report, "", 0) != 0) return err_text("write to the report pipe");
    return "";
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

// Issue 11, point 5: the pre-login worker speaks only on what it was given.
TEST_F(SandboxEnter, PreauthMayNotMakeSockets) {
  for (int which = 0; which < 3; ++which) {
    auto r = run_child([&](int) -> std::string {
      if (auto s = sandbox_enter(nobody(), true, kPre); !s) return s.error();
      if (which == 0) (void)socket(AF_INET, SOCK_STREAM, 0);
      if (which == 1) (void)connect(0, nullptr, 0);
      if (which == 2) (void)listen(0, 1);
      return "the call returned";
    });
    EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS) << describe(r);
  }
}

std::string check_read_only_browsing() {
  const int fd = open("/marker", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err_text("open /marker read-only");
  char buf[8] = {};
  if (read(fd, buf, sizeof buf) != 4 || std::string(buf) != "moat") return "marker content";
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return err_text("pipe2");
  off_t off = 0;
  if (sendfile(p[1], fd, &off, 4) != 4) return err_text("sendfile");
  close(fd);
  DIR* d = opendir("/");
  if (d == nullptr) return err_text("opendir");
  bool found = false;
  while (const dirent* e = readdir(d)) found = found || std::string(e->d_name) == "marker";
  closedir(d);
  if (!found) return "readdir did not list marker";
  if (chdir("/upload") != 0) return err_text("chdir");
  struct stat st {};
  if (stat("/marker", &st) != 0 || lstat("/upload", &st) != 0) return err_text("stat");
  return "";
}

TEST_F(SandboxEnter, PostauthReadOnlyAllowsBrowsingAndDownloading) {
  auto r = run_child([&](int) -> std::string {
    if (auto s = sandbox_enter(nobody(), true, kPostRead); !s) return s.error();
    if (auto e = check_event_loop_calls(); !e.empty()) return e;
    return check_read_only_browsing();
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
}

std::string check_writes() {
  const int fd = open("/upload/new", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return err_text("create");
  if (write(fd, "data", 4) != 4 || pwrite(fd, "D", 1, 0) != 1) return err_text("write");
  if (fsync(fd) != 0 || ftruncate(fd, 2) != 0 || fchmod(fd, 0600) != 0) return err_text("fd ops");
  close(fd);
  if (rename("/upload/new", "/upload/renamed") != 0) return err_text("rename");
  if (mkdir("/upload/dir", 0755) != 0 || rmdir("/upload/dir") != 0) return err_text("mkdir/rmdir");
  if (unlink("/upload/renamed") != 0) return err_text("unlink");
  return "";
}

TEST_F(SandboxEnter, PostauthWriteAllowsUploads) {
  auto r = run_child([&](int) -> std::string {
    if (auto s = sandbox_enter(nobody(), true, kPostWrite); !s) return s.error();
    if (auto e = check_read_only_browsing(); !e.empty()) return e;
    return check_writes();
  });
  EXPECT_TRUE(succeeded(r)) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/upload/renamed"));
}

// Precompiled filters (seccomp_precompile, as the master runs it) allow what the
// freshly built ones do, including abort()'s tgkill on the worker's own pid, which
// is the one value filled in after fork.
TEST_F(SandboxEnter, PrecompiledFiltersAllowTheSameWork) {
  auto pre = run_child([&](int) -> std::string {
    if (auto s = seccomp_precompile(); !s) return s.error();
    if (auto s = sandbox_enter(nobody(), true, kPre); !s) return s.error();
    if (auto e = check_event_loop_calls(); !e.empty()) return e;
    if (syscall(SYS_tgkill, getpid(), gettid(), 0) != 0) return err_text("tgkill self");
    return "";
  });
  EXPECT_TRUE(succeeded(pre)) << describe(pre);
  auto post = run_child([&](int) -> std::string {
    if (auto s = seccomp_precompile(); !s) return s.error();
    if (auto s = sandbox_enter(nobody(), true, kPostWrite); !s) return s.error();
    if (auto e = check_read_only_browsing(); !e.empty()) return e;
    if (auto e = check_sockets(); !e.empty()) return e;  // PASV
    return check_writes();
  });
  EXPECT_TRUE(succeeded(post)) << describe(post);
}

// What the kernel's seccomp_cache_prepare does with a program: run it for one call
// number with no arguments known, giving up (nullopt) at any load of a field other
// than the number and the architecture. Returns the action when it can tell.
std::optional<uint32_t> const_action(const std::vector<sock_filter>& prog, uint32_t nr) {
  uint32_t acc = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& f = prog[pc];
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (f.k == offsetof(seccomp_data, nr)) acc = nr;
        else if (f.k == offsetof(seccomp_data, arch)) acc = AUDIT_ARCH_X86_64;
        else return std::nullopt;
        break;
      case BPF_JMP | BPF_JA: pc += f.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += acc == f.k ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += acc >= f.k ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += acc > f.k ? f.jt : f.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (acc & f.k) ? f.jt : f.jf; break;
      case BPF_RET | BPF_K: return f.k;
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

// The short-lived filters open with a load the kernel's emulation cannot follow
// (seccomp.cpp, kSkipKernelCache): building their cache cost more at each worker's start
// than it saved. The next instruction must overwrite it.
TEST(SeccompProgram, ShortLivedFiltersSkipTheKernelCache) {
  for (const SeccompPolicy& p : {SeccompPolicy{SeccompProfile::kPreauth},
                                 SeccompPolicy{SeccompProfile::kKeyHolder}}) {
    auto prog = seccomp_program(p);
    ASSERT_TRUE(prog) << prog.error();
    ASSERT_GE(prog->size(), 2u);
    EXPECT_EQ((*prog)[0].code, BPF_LD | BPF_W | BPF_ABS);
    EXPECT_EQ((*prog)[0].k, offsetof(seccomp_data, instruction_pointer));
    EXPECT_EQ((*prog)[1].code, BPF_LD | BPF_W | BPF_ABS);
    EXPECT_EQ((*prog)[1].k, offsetof(seccomp_data, arch));
    EXPECT_FALSE(const_action(*prog, __NR_newfstatat));
  }
}

// The post-login worker's filter is one the kernel caches: the calls a listing or a
// transfer makes by the thousand are allowed without running the filter.
TEST(SeccompProgram, PostLoginHotCallsAreCachedByTheKernel) {
  for (bool write : {false, true}) {
    auto prog = seccomp_program({SeccompProfile::kPostauth, write, false});
    ASSERT_TRUE(prog) << prog.error();
    for (uint32_t nr : {__NR_newfstatat, __NR_getdents64, __NR_read, __NR_write,
                        __NR_sendfile, __NR_epoll_wait}) {
      EXPECT_EQ(const_action(*prog, nr), std::optional<uint32_t>(SECCOMP_RET_ALLOW))
          << "write_enable=" << write << " call " << nr;
    }
    EXPECT_NE(const_action(*prog, __NR_execve), std::optional<uint32_t>(SECCOMP_RET_ALLOW));
  }
}

}  // namespace
}  // namespace moat
