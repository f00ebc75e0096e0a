// SPDX-License-Identifier: GPL-2.0-or-later
// The seccomp self-test: a forked probe loads a worker policy in trap mode, then runs
// the workers' own code (libevent loop, Transfer, listings, IPC) and the system calls
// around it; a trapped call is reported through a pipe and named by the parent.
#include "core/master/seccomp_selftest.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/protocol/ascii.hpp"
#include "core/protocol/ls.hpp"
#include "core/session/transfer.hpp"
#include "core/session/upload.hpp"
#include "privsep/ipc.hpp"
#include "privsep/key_holder.hpp"
#include "privsep/key_ops.hpp"

namespace moat {
namespace {

constexpr int kProbeTimeoutMs = 20000;
constexpr size_t kFileSize = 300 * 1024;  // more than one socket buffer: several sendfiles
constexpr char kTrapped = 'S';             // report: 'S' + int syscall number
constexpr char kSetupFailed = 'E';         // report: 'E' + text

// The probe's end of the report pipe. A global because the SIGSYS handler needs it;
// set once in the probe process before the filter is loaded.
int g_report_fd = -1;

// Async-signal-safe: sends the trapped call's number and ends the probe.
void on_sigsys(int, siginfo_t* si, void*) {
  char msg[1 + sizeof(int)];
  msg[0] = kTrapped;
  const int nr = si->si_syscall;
  std::memcpy(msg + 1, &nr, sizeof nr);
  [[maybe_unused]] ssize_t n = ::write(g_report_fd, msg, sizeof msg);
  _exit(3);
}

struct BaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};
using Base = std::unique_ptr<event_base, BaseFree>;
struct BevFree {
  void operator()(bufferevent* b) const { bufferevent_free(b); }
};
using Bev = std::unique_ptr<bufferevent, BevFree>;
struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
using Event = std::unique_ptr<event, EventFree>;

// Runs the loop until `done` or a guard timer: a stuck probe must not stall start-up.
void run_until(event_base* base, const bool& done) {
  Event guard(evtimer_new(base, [](evutil_socket_t, short, void* b) {
    event_base_loopbreak(static_cast<event_base*>(b));
  }, base));
  timeval tv{5, 0};
  event_add(guard.get(), &tv);
  while (!done && event_base_loop(base, EVLOOP_ONCE) == 0) {
    if (evtimer_pending(guard.get(), nullptr) == 0) break;
  }
}

// A TCP connection over loopback, made the way workers make data connections.
struct TcpPair {
  UniqueFd listener, client, server;
};

TcpPair tcp_pair() {
  TcpPair p;
  p.listener.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int one = 1;
  setsockopt(p.listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bind(p.listener.get(), reinterpret_cast<sockaddr*>(&a), len);
  listen(p.listener.get(), 1);
  getsockname(p.listener.get(), reinterpret_cast<sockaddr*>(&a), &len);
  p.client.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  fcntl(p.client.get(), F_SETFL, fcntl(p.client.get(), F_GETFL) | O_NONBLOCK);
  connect(p.client.get(), reinterpret_cast<sockaddr*>(&a), len);
  pollfd pf{p.client.get(), POLLOUT, 0};
  poll(&pf, 1, 2000);
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(p.client.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  pollfd lf{p.listener.get(), POLLIN, 0};
  poll(&lf, 1, 2000);
  p.server.reset(accept4(p.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  sockaddr_storage peer{};
  socklen_t plen = sizeof peer;
  getpeername(p.server.get(), reinterpret_cast<sockaddr*>(&peer), &plen);
  setsockopt(p.server.get(), SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
  UniqueFd v6(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  return p;
}

// Everything outside the event loop that both kinds of worker do.
void exercise_process_basics(int ipc_out, int ipc_in) {
  time_t now = time(nullptr);
  tm local{}, utc{};
  localtime_r(&now, &local);
  gmtime_r(&now, &utc);
  char text[64];
  strftime(text, sizeof text, "%a %b %e %H:%M:%S %Y", &local);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  clock_gettime(CLOCK_REALTIME, &ts);
  [[maybe_unused]] uint32_t r = arc4random_uniform(1000);
  uint64_t rnd = 0;
  [[maybe_unused]] ssize_t g = getrandom(&rnd, sizeof rnd, 0);
  std::string big(8 << 20, 'x');  // malloc through mmap
  big.assign(100, 'y');
  big.shrink_to_fit();
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  [[maybe_unused]] pid_t pid = getpid();
  [[maybe_unused]] int tty = isatty(STDERR_FILENO);
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, "", 0);
  // The helper IPC, with a descriptor, as LOGIN/HANDOVER/PORT20 use it.
  int fd = STDERR_FILENO;
  if (ipc_send(ipc_out, LoginRequest{"probe", "probe"}, std::span(&fd, 1))) {
    [[maybe_unused]] auto m = ipc_recv(ipc_in);
  }
}

// A login over TLS: the pre-login worker keeps one end of a stream pair as the relay.
void exercise_tls_handover() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  close(sv[0]);
  close(sv[1]);
}

// The control connection's calls: nonblocking reads, MSG_NOSIGNAL writes, urgent data.
void exercise_control(const TcpPair& p) {
  int avail = 0;
  ioctl(p.server.get(), FIONREAD, &avail);
  send(p.client.get(), "NOOP\r\n", 6, MSG_NOSIGNAL | MSG_OOB);
  char buf[64];
  pollfd pf{p.server.get(), POLLIN, 0};
  poll(&pf, 1, 1000);
  [[maybe_unused]] ssize_t n = recv(p.server.get(), buf, sizeof buf, MSG_DONTWAIT);
  send(p.server.get(), "200 ok\r\n", 8, MSG_NOSIGNAL);
  n = recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT);
}

// Reads the client end of a data connection until EOF, through a bufferevent.
struct Drain {
  bool eof = false;
  size_t bytes = 0;
};

void drain_cb(bufferevent* bev, void* d) {
  evbuffer* in = bufferevent_get_input(bev);
  static_cast<Drain*>(d)->bytes += evbuffer_get_length(in);
  evbuffer_drain(in, evbuffer_get_length(in));
}

void drain_event_cb(bufferevent* bev, short what, void* d) {
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    drain_cb(bev, d);
    static_cast<Drain*>(d)->eof = true;
  }
}

// One real Transfer, from the server end of a fresh loopback pair. For uploads the
// client end sends `upload` bytes and closes; for downloads it reads to EOF.
void run_transfer(event_base* base, TransferSpec spec, size_t upload) {
  TcpPair p = tcp_pair();
  if (!p.server) return;
  bool done = false;
  const bool is_upload = spec.kind == TransferSpec::kRecvFile;
  auto x = std::make_unique<Transfer>(base, std::move(spec), 30,
                                      [&done](bool, int, const std::string&) { done = true; });
  x->start(p.server.release());
  Drain drain;
  Bev client(bufferevent_socket_new(base, p.client.release(), BEV_OPT_CLOSE_ON_FREE));
  if (is_upload) {
    std::string data(upload, 'u');
    for (size_t i = 79; i < data.size(); i += 80) data[i] = '\n';
    bufferevent_write(client.get(), data.data(), data.size());
    bufferevent_setcb(client.get(), nullptr, [](bufferevent* b, void*) {
      shutdown(bufferevent_getfd(b), SHUT_WR);
    }, nullptr, nullptr);
    bufferevent_enable(client.get(), EV_WRITE);
    run_until(base, done);
    return;
  }
  bufferevent_setcb(client.get(), drain_cb, nullptr, drain_event_cb, &drain);
  bufferevent_enable(client.get(), EV_READ);
  run_until(base, done);
  x.reset();  // closes the data connection: the client sees EOF
  run_until(base, drain.eof);
}

void exercise_event_loop(event_base* base, bool data_connections) {
  bool fired = false;
  Event timer(evtimer_new(base, [](evutil_socket_t, short, void* f) {
    *static_cast<bool*>(f) = true;
  }, &fired));
  timeval tv{0, 1000};
  event_add(timer.get(), &tv);
  run_until(base, fired);
  if (!data_connections) return;  // pre-auth: no transfers, no sockets of its own
  TransferSpec listing;
  listing.kind = TransferSpec::kSendBuffer;
  listing.buffer.assign(200 * 1024, 'l');
  run_transfer(base, std::move(listing), 0);
}

UniqueFd open_read(const char* path) {
  UniqueFd fd(open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd) fcntl(fd.get(), F_SETFL, 0);
  return fd;
}

// LIST, NLST, MLSD, STAT and MLST, PWD, CWD, SIZE, MDTM (inside the workspace).
void exercise_browsing() {
  char cwd[4096];
  [[maybe_unused]] char* c = getcwd(cwd, sizeof cwd);
  mode_t old = umask(022);
  umask(old);
  for (ListKind kind : {ListKind::kLong, ListKind::kNames, ListKind::kMlsd}) {
    for (const char* path : {"", "sub", "file", "f*"}) {
      ListRequest req;
      req.kind = kind;
      req.args = parse_list_args(path);
      req.args.all = true;
      req.fmt = {false, kind == ListKind::kLong, time(nullptr)};
      req.mlsx = {false, false, getuid()};
      [[maybe_unused]] auto out = list_build(req);
    }
  }
  struct stat st {};
  stat("file", &st);
  lstat("link", &st);
  char target[256];
  [[maybe_unused]] ssize_t n = readlink("link", target, sizeof target);
  [[maybe_unused]] auto mdtm = time_mdtm(st.st_mtime);
  if (chdir("sub") == 0) n = chdir("..");
}

// RETR in binary (sendfile) and ASCII mode, from an offset (REST).
void exercise_downloads(event_base* base) {
  struct stat st {};
  for (bool ascii : {false, true}) {
    TransferSpec spec;
    spec.kind = TransferSpec::kSendFile;
    spec.file = open_read("file");
    if (!spec.file || fstat(spec.file.get(), &st) != 0) return;
    lseek(spec.file.get(), 1, SEEK_SET);
    spec.length = static_cast<uint64_t>(st.st_size) - 1;
    spec.ascii = ascii;
    run_transfer(base, std::move(spec), 0);
  }
  UniqueFd fd = open_read("file");
  file_lock_busy(fd.get(), FileLock::kRead);  // lock_upload_files: RETR's read lock
  char buf[512];
  [[maybe_unused]] ssize_t n = pread(fd.get(), buf, sizeof buf, 0);
  n = read(fd.get(), buf, sizeof buf);
}

UniqueFd open_upload(const char* path, int extra) {
  UniqueFd fd(open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | extra, 0644));
  if (fd) fcntl(fd.get(), F_SETFL, (extra & O_APPEND) ? O_APPEND : 0);
  return fd;
}

// atomic_uploads: a temporary file (random name, O_EXCL) renamed over the target, or
// removed when the upload fails.
void exercise_atomic_upload() {
  for (bool complete : {true, false}) {
    auto made = TempUpload::create("upload", 0644);
    if (!made) return;
    [[maybe_unused]] ssize_t n = write(made->second.get(), "x", 1);
    if (complete) [[maybe_unused]] auto done = made->first.commit();
  }
}

// Uploads and the commands that change the tree (write_enable=YES).
void exercise_writing(event_base* base) {
  for (bool ascii : {false, true}) {
    TransferSpec spec;
    spec.kind = TransferSpec::kRecvFile;
    spec.file = open_upload("upload", 0);
    if (!spec.file) return;
    [[maybe_unused]] int t = ftruncate(spec.file.get(), 0);
    lseek(spec.file.get(), 0, SEEK_SET);
    spec.ascii = ascii;
    run_transfer(base, std::move(spec), 200 * 1024);
  }
  { UniqueFd a = open_upload("upload", O_APPEND); file_lock_busy(a.get(), FileLock::kWrite); }
  exercise_atomic_upload();
  { UniqueFd e = open_upload("unique", O_EXCL); }
  timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  utimensat(AT_FDCWD, "upload", times, 0);
  chmod("upload", 0600);
  rename("upload", "renamed");
  mkdir("newdir", 0777);
  rmdir("newdir");
  unlink("renamed");
  unlink("unique");
}

[[noreturn]] void setup_failed(const std::string& why) {
  std::string msg = kSetupFailed + why;
  [[maybe_unused]] ssize_t n = ::write(g_report_fd, msg.data(), msg.size());
  _exit(2);
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The key holder: keys made before the filter (as the holder loads its key), then
// requests answered by the holder's own code, RSA and ECDSA, every digest.
[[noreturn]] void probe_key_holder(const SeccompPolicy& policy, int helper, int holder) {
  Pkey rsa(EVP_RSA_gen(1024)), ec(EVP_EC_gen("P-256"));
  if (!rsa || !ec) setup_failed("cannot make probe keys");
  if (auto st = seccomp_install_trapping(policy); !st) setup_failed(st.error());
  for (auto [key, scheme] : {std::pair{rsa.get(), SignScheme::kRsaPkcs1},
                             std::pair{ec.get(), SignScheme::kEcdsa}}) {
    for (SignDigest d : {SignDigest::kSha256, SignDigest::kSha384, SignDigest::kSha512}) {
      KeySignRequest req{scheme, d, std::vector<uint8_t>(EVP_MD_get_size(sign_digest_md(d)), 7)};
      if (!ipc_send(helper, req)) _exit(5);
      if (!key_holder_answer(key, holder)) _exit(5);
      auto answer = ipc_recv_expect<KeySignResult>(helper);
      if (!answer || !answer->body.ok) _exit(5);
    }
  }
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, "", 0);
  close(helper);
  if (key_holder_answer(rsa.get(), holder)) _exit(5);  // the helper gone: false
  _exit(0);
}

[[noreturn]] void probe_main(const SeccompPolicy& policy, const std::string& workspace,
                             int report) {
  g_report_fd = report;
  prctl(PR_SET_NAME, "moat-selftest");
  int ipc[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ipc) != 0)
    setup_failed("socketpair: " + errno_text(errno));
  const bool postauth = policy.profile == SeccompProfile::kPostauth;
  if (postauth && chdir(workspace.c_str()) != 0) setup_failed("chdir: " + errno_text(errno));
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, nullptr) != 0) setup_failed("sigaction: " + errno_text(errno));
  if (policy.profile == SeccompProfile::kKeyHolder) probe_key_holder(policy, ipc[0], ipc[1]);
  // The control connection is inherited: no worker makes one (pre-auth may not).
  TcpPair control = tcp_pair();
  if (auto st = seccomp_install_trapping(policy); !st) setup_failed(st.error());
  exercise_process_basics(ipc[0], ipc[1]);
  Base base(event_base_new());
  if (!base) _exit(4);
  exercise_control(control);
  control = TcpPair{};
  if (!postauth) exercise_tls_handover();
  exercise_event_loop(base.get(), postauth);
  if (postauth) exercise_browsing();
  if (postauth) exercise_downloads(base.get());
  if (postauth && policy.write_enable) exercise_writing(base.get());
  _exit(0);
}

const char* policy_name(const SeccompPolicy& p) {
  if (p.profile == SeccompProfile::kPreauth) return "pre-auth";
  if (p.profile == SeccompProfile::kKeyHolder) return "key holder";
  return p.write_enable ? "post-auth (write_enable=YES)" : "post-auth (write_enable=NO)";
}

std::string syscall_name(int nr) {
  char* name = seccomp_syscall_resolve_num_arch(seccomp_arch_native(), nr);
  std::string s = name != nullptr ? name : "unknown";
  std::free(name);
  return s;
}

// The report pipe's contents, until EOF or the deadline (nullopt).
std::optional<std::string> read_report(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProbeTimeoutMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) return std::nullopt;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Status verdict(const SeccompPolicy& policy, const std::string& report, int status) {
  const std::string who = std::string("seccomp self-test: the ") + policy_name(policy) + " policy";
  if (!report.empty() && report[0] == kTrapped && report.size() >= 1 + sizeof(int)) {
    int nr;
    std::memcpy(&nr, report.data() + 1, sizeof nr);
    return fail(who + " does not allow system call " + std::to_string(nr) + " (" +
                syscall_name(nr) + "); set seccomp_sandbox=NO to run without it, and report this");
  }
  if (!report.empty() && report[0] == kSetupFailed)
    return fail(who + " cannot be loaded: " + report.substr(1) +
                "; set seccomp_sandbox=NO to run without it");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok{};
  std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                        : "exit status " + std::to_string(WEXITSTATUS(status));
  // SIGSYS without a report: the trap handler's own write was refused.
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) how += ": the report itself trapped";
  return fail(who + ": the probe process failed (" + how + ")");
}

Status run_probe(const SeccompPolicy& policy, const std::string& workspace) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail("seccomp self-test: pipe: " + errno_text(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t pid = fork();
  if (pid < 0) return fail("seccomp self-test: fork: " + errno_text(errno));
  if (pid == 0) {
    rd.reset();
    probe_main(policy, workspace, wr.release());
  }
  wr.reset();
  auto report = read_report(rd.get());
  if (!report) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!report)
    return fail(std::string("seccomp self-test: the probe for the ") + policy_name(policy) +
                " policy did not finish");
  return verdict(policy, *report, status);
}

// $TMPDIR when it is absolute, else /tmp.
std::string scratch_parent() {
  const char* t = getenv("TMPDIR");
  return t && t[0] == '/' ? t : "/tmp";
}

// A scratch tree for the post-auth probes: a text file, a directory and a symlink.
std::string make_workspace() {
  std::string dir = scratch_parent() + "/moatftpd-selftest-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return "";
  std::string text;
  while (text.size() < kFileSize) text += "a line of text for the ASCII conversion\n";
  UniqueFd fd(open((dir + "/file").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  bool ok = fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && mkdir((dir + "/sub").c_str(), 0755) == 0;
  ok = ok && symlink("file", (dir + "/link").c_str()) == 0;
  if (!ok) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return "";
  }
  return dir;
}

}  // namespace

std::vector<SeccompPolicy> seccomp_worker_policies() {
  return {{SeccompProfile::kPreauth, false},
          {SeccompProfile::kPostauth, false},
          {SeccompProfile::kPostauth, true},
          {SeccompProfile::kKeyHolder}};
}

Status seccomp_self_test(std::span<const SeccompPolicy> policies) {
  tzset();  // as the master does before it forks workers: no zone file read later
  const std::string workspace = make_workspace();
  if (workspace.empty())
    return fail("seccomp self-test: cannot make a scratch directory in " + scratch_parent() +
                " (" + errno_text(errno) + "); make it writable or set seccomp_sandbox=NO");
  Status result = Ok{};
  for (const SeccompPolicy& policy : policies) {
    result = run_probe(policy, workspace);
    if (!result) break;
  }
  std::error_code ec;
  std::filesystem::remove_all(workspace, ec);
  return result;
}

Status seccomp_check(const Config& cfg) {
  if (!cfg.seccomp_sandbox) return Ok{};
  auto policies = seccomp_worker_policies();
  return seccomp_self_test(policies);
}

}  // namespace moat
