// SPDX-License-Identifier: GPL-2.0-or-later
// The session helper's state table (doc/DESIGN.md §4), tested from the worker's side: a
// forked helper starts its workers through a test launcher that hands the worker's end
// of the IPC socket to this process, which then sends requests out of state, malformed,
// oversized and past their limits. Each must end the session with nothing granted.
#include "privsep/helper.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/host/module_host.hpp"
#include "core/host/modules.hpp"
#include "core/master/session_hooks.hpp"
#include "privsep/ipc.hpp"

#ifndef MOAT_TEST_BUILD_DIR
#define MOAT_TEST_BUILD_DIR "."
#endif

namespace moat {
namespace {

constexpr int kWaitMs = 10000;

// What the test launcher reports for each worker the helper starts.
struct LaunchInfo {
  bool logged_in = false;
  bool anonymous = false;
  bool write_enable = false;
  SeccompProfile profile = SeccompProfile::kPreauth;
  bool policy_write = false;
  uid_t uid = 0;
  gid_t gid = 0;
  char chroot_dir[256] = {};
  char user[64] = {};
};

struct Launch {
  LaunchInfo info;
  UniqueFd ipc;      // the worker's end of the helper's IPC socket
  UniqueFd control;  // the control connection as the worker would get it
};

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

// Sends bytes with descriptors on a SOCK_SEQPACKET socket, exactly as given.
bool send_datagram(int sock, std::span<const uint8_t> bytes, std::span<const int> fds = {}) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 8)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Runs in the helper process: forwards the worker's ends to the test.
Result<pid_t> report_launch(int channel, WorkerLaunch&& w) {
  LaunchInfo info;
  info.logged_in = w.start.logged_in;
  info.anonymous = w.start.anonymous;
  info.write_enable = w.start.write_enable;
  info.profile = w.policy.profile;
  info.policy_write = w.policy.write_enable;
  info.uid = w.identity.uid;
  info.gid = w.identity.gid;
  std::snprintf(info.chroot_dir, sizeof info.chroot_dir, "%s", w.identity.chroot_dir.c_str());
  std::snprintf(info.user, sizeof info.user, "%s", w.start.user.c_str());
  const int fds[2] = {w.ipc.get(), w.control.get()};
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(&info), sizeof info);
  if (!send_datagram(channel, bytes, fds)) return fail("test launcher: send failed");
  return pid_t{0};  // no process for the helper to reap
}

std::optional<Launch> receive_launch(int channel, int ms = kWaitMs) {
  if (!wait_readable(channel, ms)) return std::nullopt;
  Launch l;
  iovec iov{&l.info, sizeof l.info};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 2)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  if (recvmsg(channel, &msg, MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(sizeof l.info))
    return std::nullopt;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_len != CMSG_LEN(sizeof(int) * 2)) return std::nullopt;
  int fds[2];
  std::memcpy(fds, CMSG_DATA(c), sizeof fds);
  l.ipc.reset(fds[0]);
  l.control.reset(fds[1]);
  return l;
}

std::vector<uint8_t> header(uint16_t type, uint16_t flags, uint32_t len) {
  IpcWriter w;
  w.u16(type);
  w.u16(flags);
  w.u32(len);
  return w.data();
}

std::vector<uint8_t> datagram(MsgType type, const std::vector<uint8_t>& payload,
                              uint16_t flags = 0) {
  auto d = header(static_cast<uint16_t>(type), flags, static_cast<uint32_t>(payload.size()));
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

sockaddr_storage inet4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in&>(ss);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return ss;
}

// A loopback TCP connection: the helper gets the server's end, as from accept().
struct Connection {
  UniqueFd client;
  UniqueFd server;
  sockaddr_storage client_addr{};
};

Connection loopback_connection() {
  Connection c;
  UniqueFd lis(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage any = inet4("127.0.0.1", 0);
  socklen_t len = sizeof(sockaddr_in);
  if (bind(lis.get(), reinterpret_cast<sockaddr*>(&any), len) != 0 || listen(lis.get(), 1) != 0)
    return c;
  getsockname(lis.get(), reinterpret_cast<sockaddr*>(&any), &len);
  c.client.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(c.client.get(), reinterpret_cast<sockaddr*>(&any), len) != 0) return c;
  len = sizeof c.client_addr;
  getsockname(c.client.get(), reinterpret_cast<sockaddr*>(&c.client_addr), &len);
  c.server.reset(accept4(lis.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return c;
}

UniqueFd listener() {
  UniqueFd lis(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage any = inet4("127.0.0.1", 0);
  if (bind(lis.get(), reinterpret_cast<sockaddr*>(&any), sizeof(sockaddr_in)) != 0 ||
      listen(lis.get(), 4) != 0)
    return UniqueFd();
  return lis;
}

uint16_t port_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

std::string make_dir(const char* tmpl_text) {
  std::string tmpl = tmpl_text;
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  chmod(tmpl.c_str(), 0755);
  return tmpl;
}

// What came back on the worker's end before the session ended.
struct Aftermath {
  bool eof = false;          // the helper closed the IPC socket
  bool granted = false;      // a LoginResult{ok}, a Port20Result{ok} or any descriptor
  int replies = 0;           // other messages
  bool launched = false;     // the helper started another worker
  int exit_status = -1;      // waitpid status of the helper
  bool exited = false;
  std::string stderr_text;   // why the helper says it ended the session
};

class HelperTable : public ::testing::Test {
 protected:
  void SetUp() override {
    passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr) << "these tests need the user nobody";
    nobody_uid_ = nobody->pw_uid;
    empty_ = make_dir("/tmp/moat-helper-empty-XXXXXX");
    anon_root_ = make_dir("/tmp/moat-helper-anon-XXXXXX");
    ASSERT_FALSE(empty_.empty() || anon_root_.empty());
    cfg_.nopriv_user = "nobody";
    cfg_.secure_chroot_dir = empty_;
    cfg_.ftp_username = "nobody";
    cfg_.anon_root = anon_root_;
    cfg_.anonymous_enable = true;
    cfg_.local_enable = false;  // local logins fail at once, without PAM
    cfg_.delay_failed_login = 0;
    cfg_.delay_successful_login = 0;
  }

  void TearDown() override {
    if (helper_ > 0) {
      kill(helper_, SIGKILL);
      waitpid(helper_, nullptr, 0);
    }
    std::filesystem::remove_all(empty_);
    std::filesystem::remove_all(anon_root_);
  }

  // Forks a helper for a fresh loopback connection; returns the pre-auth launch.
  Launch start() {
    auto ctx = std::make_shared<ServerContext>();
    ctx->cfg = cfg_;
    auto nopriv = user_account(cfg_.nopriv_user);  // as server_prepare resolves it
    EXPECT_TRUE(nopriv) << "no nopriv_user";
    if (nopriv) ctx->nopriv = *nopriv;
    conn_ = loopback_connection();
    EXPECT_TRUE(conn_.server) << "no loopback connection";
    int ch[2], err[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    helper_ = fork();
    if (helper_ == 0) {
      close(ch[0]);
      close(err[0]);
      dup2(err[1], 2);
      conn_.client.reset();
      const int channel = ch[1];
      HelperHooks hooks = session_helper_hooks(ctx);
      hooks.launch = [channel](WorkerLaunch&& w) { return report_launch(channel, std::move(w)); };
      helper_run(ctx, std::move(conn_.server), conn_.client_addr, std::move(hooks));
    }
    close(ch[1]);
    close(err[1]);
    channel_.reset(ch[0]);
    stderr_.reset(err[0]);
    conn_.server.reset();
    auto l = receive_launch(channel_.get());
    EXPECT_TRUE(l.has_value()) << "the helper started no pre-auth worker";
    return l ? std::move(*l) : Launch{};
  }

  // After a bad request: drain what the helper still sends, then its exit.
  Aftermath aftermath(int ipc) {
    Aftermath a;
    while (wait_readable(ipc, kWaitMs)) {
      auto m = ipc_recv(ipc);
      if (!m) {
        a.eof = m.error().find("peer closed") != std::string::npos;
        break;
      }
      a.granted = a.granted || !m->fds.empty() || granted(*m);
      ++a.replies;
    }
    a.launched = wait_readable(channel_.get(), 0) && receive_launch(channel_.get(), 0).has_value();
    a.exited = wait_exit(a.exit_status);
    char buf[4096];
    ssize_t n;
    fcntl(stderr_.get(), F_SETFL, O_NONBLOCK);
    while ((n = read(stderr_.get(), buf, sizeof buf)) > 0) a.stderr_text.append(buf, size_t(n));
    return a;
  }

  static bool granted(const Message& m) {
    if (m.type == MsgType::kLoginResult) {
      auto r = decode<LoginResult>(m.payload);
      return !r || r->ok;
    }
    if (m.type == MsgType::kPort20Result) {
      auto r = decode<Port20Result>(m.payload);
      return !r || r->ok;
    }
    if (m.type == MsgType::kModulePrivResult) {
      auto r = decode<ModulePrivResult>(m.payload);
      return !r || r->ok;
    }
    return true;  // the helper sends nothing else
  }

  bool wait_exit(int& status) {
    for (int i = 0; i < kWaitMs / 10; ++i) {
      if (waitpid(helper_, &status, WNOHANG) == helper_) {
        helper_ = -1;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // The session ended, the helper exited cleanly, and nothing was granted.
  void expect_ended(int ipc, const std::string& why = "") {
    Aftermath a = aftermath(ipc);
    EXPECT_TRUE(a.eof) << "the helper kept the IPC socket open; stderr: " << a.stderr_text;
    EXPECT_FALSE(a.granted) << a.stderr_text;
    EXPECT_EQ(a.replies, 0) << a.stderr_text;
    EXPECT_FALSE(a.launched) << "the helper started another worker";
    EXPECT_TRUE(a.exited) << "the helper did not exit";
    EXPECT_TRUE(WIFEXITED(a.exit_status) && WEXITSTATUS(a.exit_status) == 0)
        << "helper status " << a.exit_status << "; stderr: " << a.stderr_text;
    if (!why.empty()) {
      EXPECT_NE(a.stderr_text.find(why), std::string::npos) << a.stderr_text;
    }
  }

  // One request and its answer, for the requests that must succeed.
  static std::optional<Message> ask(int ipc, MsgType type, const std::vector<uint8_t>& payload,
                                    std::span<const int> fds = {}) {
    if (!ipc_send(ipc, type, payload, fds)) return std::nullopt;
    if (!wait_readable(ipc, kWaitMs)) return std::nullopt;
    auto m = ipc_recv(ipc);
    if (!m) return std::nullopt;
    return std::move(*m);
  }

  static std::optional<LoginResult> login(int ipc, const std::string& user,
                                          const std::string& pass = "e@x") {
    auto m = ask(ipc, MsgType::kLogin, encode(LoginRequest{user, pass}));
    if (!m || m->type != MsgType::kLoginResult || !m->fds.empty()) return std::nullopt;
    auto r = decode<LoginResult>(m->payload);
    if (!r) return std::nullopt;
    return *r;
  }

  // Anonymous login and hand-over: the post-auth launch.
  Launch logged_in(Launch& pre) {
    auto r = login(pre.ipc.get(), "anonymous");
    EXPECT_TRUE(r && r->ok) << "anonymous login failed";
    int fd = pre.control.get();
    EXPECT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
    auto l = receive_launch(channel_.get());
    EXPECT_TRUE(l.has_value()) << "no post-auth worker after HANDOVER";
    return l ? std::move(*l) : Launch{};
  }

  std::vector<uint8_t> port20(const char* ip, uint16_t port) const {
    return encode(Port20Request{inet4(ip, port)});
  }
  // The text of a PORT20 answer that grants nothing; "(granted)" or "(no answer)" else.
  std::string port20_refusal(int ipc, uint16_t port) const {
    auto m = ask(ipc, MsgType::kPort20Socket, port20("127.0.0.1", port));
    if (!m) return "(no answer)";
    auto r = decode<Port20Result>(m->payload);
    if (!r) return "(bad answer)";
    return r->ok || !m->fds.empty() ? "(granted)" : r->text;
  }
  uint16_t client_port() const {
    return ntohs(reinterpret_cast<const sockaddr_in&>(conn_.client_addr).sin_port);
  }

  Config cfg_;
  uid_t nobody_uid_ = 0;
  std::string empty_, anon_root_;
  Connection conn_;
  pid_t helper_ = -1;
  UniqueFd channel_;
  UniqueFd stderr_;
};

// ---- the harness itself: what must work, works ------------------------------------

TEST_F(HelperTable, PreauthWorkerIsConfined) {
  Launch pre = start();
  EXPECT_FALSE(pre.info.logged_in);
  EXPECT_EQ(pre.info.profile, SeccompProfile::kPreauth);
  EXPECT_EQ(pre.info.uid, nobody_uid_);
  EXPECT_EQ(std::string(pre.info.chroot_dir), empty_);
  pre.ipc.reset();  // the worker exits: the session is over
  int status = -1;
  EXPECT_TRUE(wait_exit(status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(HelperTable, FailedLoginIsAnsweredAndTheSessionGoesOn) {
  Launch pre = start();
  auto r = login(pre.ipc.get(), "alice", "secret");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(r->fatal);
  EXPECT_EQ(r->text, "Login incorrect.");
  r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok);
}

TEST_F(HelperTable, AnonymousLoginStartsAReadOnlyChrootedWorker) {
  Launch pre = start();
  Launch post = logged_in(pre);
  EXPECT_TRUE(post.info.logged_in);
  EXPECT_TRUE(post.info.anonymous);
  EXPECT_EQ(post.info.profile, SeccompProfile::kPostauth);
  EXPECT_FALSE(post.info.policy_write);  // seccomp follows the grant: no write syscalls
  EXPECT_FALSE(post.info.write_enable);
  EXPECT_EQ(post.info.uid, nobody_uid_);
  EXPECT_EQ(std::string(post.info.chroot_dir), anon_root_);
  // The control connection handed over is the client's.
  ASSERT_EQ(write(post.control.get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(read(conn_.client.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(HelperTable, Port20IsGrantedOnlyForThePeer) {
  cfg_.connect_from_port_20 = true;
  cfg_.ftp_data_port = 0;  // any port: the test must not depend on port 20 being free
  Launch pre = start();
  Launch post = logged_in(pre);
  UniqueFd lis = listener();
  auto m = ask(post.ipc.get(), MsgType::kPort20Socket, port20("127.0.0.1", port_of(lis.get())));
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->type, MsgType::kPort20Result);
  auto r = decode<Port20Result>(m->payload);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->text;
  ASSERT_EQ(m->fds.size(), 1u);
  // Issue 11, point 2: it comes connected to the approved address, not merely bound.
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  ASSERT_EQ(getpeername(m->fds[0].get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in&>(peer).sin_port), port_of(lis.get()));
  // Pointing it elsewhere or listening on it changes nothing.
  UniqueFd other = listener();
  sockaddr_storage elsewhere = inet4("127.0.0.1", port_of(other.get()));
  connect(m->fds[0].get(), reinterpret_cast<sockaddr*>(&elsewhere), sizeof(sockaddr_in));
  len = sizeof peer;
  ASSERT_EQ(getpeername(m->fds[0].get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in&>(peer).sin_port), port_of(lis.get()));
  EXPECT_NE(listen(m->fds[0].get(), 1), 0);
  // And then a foreign one ends the session.
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kPort20Socket, port20("10.1.2.3", 40000)));
  expect_ended(post.ipc.get(), "foreign address");
}

// A connection the client refuses is an answer without a socket; the session goes on.
TEST_F(HelperTable, Port20RefusedIsAnAnswer) {
  cfg_.connect_from_port_20 = true;
  cfg_.ftp_data_port = 0;
  Launch pre = start();
  Launch post = logged_in(pre);
  uint16_t closed = 0;
  {
    UniqueFd lis = listener();
    closed = port_of(lis.get());
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_NE(port20_refusal(post.ipc.get(), closed).find("cannot connect"), std::string::npos);
  }
}

// Issue 11: a writable chroot is refused by the helper itself; no post-login worker
// is started that could ignore the refusal.
TEST_F(HelperTable, WritableChrootIsRefusedByTheHelper) {
  ASSERT_EQ(chown(anon_root_.c_str(), nobody_uid_, static_cast<gid_t>(-1)), 0);
  Launch pre = start();
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  pre.control.reset();
  Aftermath a = aftermath(pre.ipc.get());
  EXPECT_FALSE(a.launched) << "a post-login worker was started";
  EXPECT_TRUE(a.exited) << a.stderr_text;
  EXPECT_NE(a.stderr_text.find("login refused"), std::string::npos) << a.stderr_text;
  char buf[512] = {};
  ASSERT_TRUE(wait_readable(conn_.client.get(), kWaitMs));
  ASSERT_GT(read(conn_.client.get(), buf, sizeof buf - 1), 0);
  EXPECT_EQ(std::string(buf).rfind("500 OOPS: refusing to run with writable root", 0), 0u) << buf;
  EXPECT_NE(std::string(buf).find("allow_writeable_chroot=YES"), std::string::npos) << buf;
}

// A client that never answers the SYN (here: a listener whose accept queue is full)
// holds the helper for connect_timeout, not longer; the worker learns it as a refusal.
TEST_F(HelperTable, Port20ToAnUnresponsiveClientTimesOut) {
  cfg_.connect_from_port_20 = true;
  cfg_.ftp_data_port = 0;
  cfg_.connect_timeout = 1;
  Launch pre = start();
  Launch post = logged_in(pre);
  UniqueFd lis(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage any = inet4("127.0.0.1", 0);
  ASSERT_EQ(bind(lis.get(), reinterpret_cast<sockaddr*>(&any), sizeof(sockaddr_in)), 0);
  ASSERT_EQ(listen(lis.get(), 0), 0);
  sockaddr_storage to = inet4("127.0.0.1", port_of(lis.get()));
  // One connection fills a backlog of 0; the kernel then drops further SYNs.
  UniqueFd queued(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  connect(queued.get(), reinterpret_cast<sockaddr*>(&to), sizeof(sockaddr_in));
  pollfd p{queued.get(), POLLOUT, 0};
  ASSERT_EQ(poll(&p, 1, kWaitMs), 1);  // its handshake completed: it is queued
  EXPECT_NE(port20_refusal(post.ipc.get(), port_of(lis.get())).find("timed out"),
            std::string::npos);
}

// ---- requests out of state ------------------------------------------------------------

TEST_F(HelperTable, Port20BeforeLogin) {
  cfg_.connect_from_port_20 = true;
  Launch pre = start();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kPort20Socket, port20("127.0.0.1", 40000)));
  expect_ended(pre.ipc.get(), "out of state");
}

TEST_F(HelperTable, HandoverBeforeLogin) {
  Launch pre = start();
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "HANDOVER request out of state");
}

TEST_F(HelperTable, HandoverAfterAFailedLogin) {
  Launch pre = start();
  auto r = login(pre.ipc.get(), "alice");
  ASSERT_TRUE(r && !r->ok);
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "HANDOVER request out of state");
}

TEST_F(HelperTable, LoginAfterASuccessfulLogin) {
  Launch pre = start();
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kLogin, encode(LoginRequest{"anonymous", "x"})));
  expect_ended(pre.ipc.get(), "LOGIN request out of state");
}

TEST_F(HelperTable, Port20BetweenLoginAndHandover) {
  cfg_.connect_from_port_20 = true;
  Launch pre = start();
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kPort20Socket, port20("127.0.0.1", 40000)));
  expect_ended(pre.ipc.get(), "PORT20 request out of state");
}

TEST_F(HelperTable, LoginAfterHandover) {
  Launch pre = start();
  Launch post = logged_in(pre);
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kLogin, encode(LoginRequest{"anonymous", "x"})));
  expect_ended(post.ipc.get(), "out of state");
}

TEST_F(HelperTable, Port20AfterReinIsOutOfStateAgain) {
  cfg_.connect_from_port_20 = true;
  cfg_.ftp_data_port = 0;
  Launch pre = start();
  Launch post = logged_in(pre);
  int fd = post.control.get();
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  auto again = receive_launch(channel_.get());
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->info.logged_in);
  EXPECT_EQ(again->info.profile, SeccompProfile::kPreauth);
  ASSERT_TRUE(ipc_send(again->ipc.get(), MsgType::kPort20Socket, port20("127.0.0.1", 40000)));
  expect_ended(again->ipc.get(), "out of state");
}

TEST_F(HelperTable, HelperToWorkerTypesFromTheWorker) {
  for (MsgType t : {MsgType::kLoginResult, MsgType::kPort20Result}) {
    Launch pre = start();
    ASSERT_TRUE(ipc_send(pre.ipc.get(), t, encode(LoginResult{true, false, ""})));
    expect_ended(pre.ipc.get(), "not in the table");
  }
  // And whatever types come after them, known to the codec (helper -> master) or not.
  for (uint16_t t = static_cast<uint16_t>(MsgType::kPort20Result) + 1; t < 12; ++t) {
    Launch pre = start();
    ASSERT_TRUE(send_datagram(pre.ipc.get(), header(t, 0, 0)));
    expect_ended(pre.ipc.get());
  }
}

// ---- PORT20 policy -----------------------------------------------------------------------

TEST_F(HelperTable, Port20WithConnectFromPort20Off) {
  cfg_.connect_from_port_20 = false;
  Launch pre = start();
  Launch post = logged_in(pre);
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kPort20Socket, port20("127.0.0.1", 40000)));
  expect_ended(post.ipc.get(), "PORT20 request without connect_from_port_20=YES");
}

// ---- KEY_SIGN rows: one per state, each with its own count -------------------------------

TEST_F(HelperTable, KeySignBeforeLoginNeedsSslEnable) {
  cfg_.ssl_enable = false;
  Launch pre = start();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kKeySign, {}));
  expect_ended(pre.ipc.get(), "KEY_SIGN request without ssl_enable=YES");
}

// After login a signature is a data connection's handshake: none without a TLS control
// connection, whatever ssl_enable says (the post-login rows, not the pre-login one).
TEST_F(HelperTable, KeySignAfterLoginNeedsATlsControlConnection) {
  for (bool ssl : {false, true}) {
    cfg_.ssl_enable = ssl;
    Launch pre = start();
    Launch post = logged_in(pre);
    ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kKeySign, {}));
    expect_ended(post.ipc.get(), "KEY_SIGN request without a TLS control connection");
  }
}

TEST_F(HelperTable, Port20ForAForeignAddressOrALowPort) {
  cfg_.connect_from_port_20 = true;
  cfg_.ftp_data_port = 0;
  for (auto [ip, port] : {std::pair{"10.1.2.3", 40000}, std::pair{"127.0.0.2", 40000},
                          std::pair{"127.0.0.1", 1023}, std::pair{"127.0.0.1", 22}}) {
    Launch pre = start();
    Launch post = logged_in(pre);
    ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kPort20Socket,
                         port20(ip, static_cast<uint16_t>(port))));
    expect_ended(post.ipc.get(), "foreign address");
  }
}

TEST_F(HelperTable, MalformedPort20) {
  cfg_.connect_from_port_20 = true;
  Launch pre = start();
  Launch post = logged_in(pre);
  auto p = port20("127.0.0.1", 40000);
  p.push_back(0);  // a trailing byte
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kPort20Socket, p));
  expect_ended(post.ipc.get(), "bad PORT20");
}

// ---- malformed requests ----------------------------------------------------------------

std::vector<uint8_t> login_payload(size_t user_len, size_t pass_len) {
  IpcWriter w;
  w.str(std::string(user_len, 'u'));
  w.str(std::string(pass_len, 'p'));
  return w.data();
}

TEST_F(HelperTable, MalformedLoginPayloads) {
  auto trailing = encode(LoginRequest{"anonymous", "x"});
  trailing.push_back(0);
  auto truncated = encode(LoginRequest{"anonymous", "x"});
  truncated.pop_back();
  const std::vector<std::vector<uint8_t>> bad = {
      {},
      trailing,
      truncated,
      login_payload(kMaxUserLen + 1, 1),
      login_payload(1, kMaxPassLen + 1),
      {0xff, 0xff, 0xff, 0xff},  // a length far beyond the datagram
  };
  for (const auto& payload : bad) {
    Launch pre = start();
    ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kLogin, payload));
    expect_ended(pre.ipc.get(), "bad LOGIN");
  }
}

TEST_F(HelperTable, MalformedHandover) {
  Launch pre = start();
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  auto oversized = encode(Handover{std::string(kMaxPending + 1, 'x')});
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, oversized, std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "bad HANDOVER");
}

TEST_F(HelperTable, HandoverWithoutOrWithTooManyDescriptors) {
  for (int nfds : {0, 2}) {
    Launch pre = start();
    auto r = login(pre.ipc.get(), "anonymous");
    ASSERT_TRUE(r && r->ok);
    int fds[2] = {pre.control.get(), pre.control.get()};
    ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}),
                         std::span(fds, static_cast<size_t>(nfds))));
    expect_ended(pre.ipc.get(), nfds == 0 ? "HANDOVER request without its descriptor"
                                          : "more than one descriptor");
  }
}

TEST_F(HelperTable, BadFraming) {
  auto login_bytes = encode(LoginRequest{"anonymous", "x"});
  auto wrong_len = header(static_cast<uint16_t>(MsgType::kLogin), 0,
                          static_cast<uint32_t>(login_bytes.size() + 1));
  wrong_len.insert(wrong_len.end(), login_bytes.begin(), login_bytes.end());
  std::vector<uint8_t> oversized = header(static_cast<uint16_t>(MsgType::kLogin), 0,
                                          static_cast<uint32_t>(kIpcMaxPayload + 1));
  oversized.resize(kIpcHeaderSize + kIpcMaxPayload + 1, 'x');
  std::vector<uint8_t> huge = header(static_cast<uint16_t>(MsgType::kLogin), 0, 200000);
  huge.resize(kIpcHeaderSize + 200000, 'x');
  const std::vector<std::vector<uint8_t>> bad = {
      {0x01},                                                      // shorter than a header
      header(0, 0, 0),                                             // type 0
      header(99, 0, 0),                                            // unknown type
      header(0xffff, 0, 0),                                        //
      datagram(MsgType::kLogin, login_bytes, 1),                   // flags != 0
      datagram(MsgType::kLogin, login_bytes, 0x8000),              //
      wrong_len,                                                   // length disagrees
      oversized,                                                   // payload over 64 KiB
      huge,                                                        // truncated by recv
  };
  for (const auto& d : bad) {
    Launch pre = start();
    ASSERT_TRUE(send_datagram(pre.ipc.get(), d)) << "datagram of " << d.size() << " bytes";
    expect_ended(pre.ipc.get(), "IPC");
  }
}

TEST_F(HelperTable, TooManyDescriptorsOnAnyRequest) {
  Launch pre = start();
  std::vector<int> fds(kIpcMaxFds + 1, pre.control.get());
  ASSERT_TRUE(send_datagram(pre.ipc.get(), datagram(MsgType::kLogin,
                                                   encode(LoginRequest{"anonymous", "x"})),
                            fds));
  expect_ended(pre.ipc.get(), "IPC");
}

TEST_F(HelperTable, DescriptorsWhereNoneBelong) {
  Launch pre = start();
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kLogin, encode(LoginRequest{"anonymous", "x"}),
                       std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "descriptor");
}

// ---- limits ------------------------------------------------------------------------------

TEST_F(HelperTable, LoginAfterTheLastPermittedFailure) {
  cfg_.max_login_fails = 3;
  Launch pre = start();
  for (int i = 1; i <= 3; ++i) {
    auto r = login(pre.ipc.get(), "alice");
    ASSERT_TRUE(r.has_value()) << "attempt " << i;
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->fatal, i == 3) << "attempt " << i;
  }
  // A worker that ignores "fatal" and tries again, even with good credentials.
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kLogin, encode(LoginRequest{"anonymous", "x"})));
  expect_ended(pre.ipc.get(), "LOGIN request out of state");
}

TEST_F(HelperTable, LoginsPastTheirLimit) {
  cfg_.max_login_fails = 0;  // unlimited failures: the table's limit of 64 still holds
  Launch pre = start();
  for (int i = 1; i <= 64; ++i) {
    auto r = login(pre.ipc.get(), "alice");
    ASSERT_TRUE(r && !r->ok) << "attempt " << i;
  }
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kLogin, encode(LoginRequest{"anonymous", "x"})));
  expect_ended(pre.ipc.get(), "over its limit");
}

TEST_F(HelperTable, HandoversPastTheirLimit) {
  Launch pre = start();
  // Each cycle is a login (HANDOVER 1) and a REIN (HANDOVER 2): 32 cycles use all 64.
  for (int cycle = 0; cycle < 32; ++cycle) {
    Launch post = logged_in(pre);
    ASSERT_TRUE(post.info.logged_in) << "cycle " << cycle;
    int fd = post.control.get();
    ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kHandover, encode(Handover{}),
                         std::span(&fd, 1)));
    auto again = receive_launch(channel_.get());
    ASSERT_TRUE(again.has_value()) << "cycle " << cycle;
    pre = std::move(*again);
  }
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  int fd = pre.control.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "over its limit");
}

// ---- chown_uploads: mod_anon_upload's priv_handler ---------------------------------------

class HelperChown : public HelperTable {
 protected:
  void SetUp() override {
    HelperTable::SetUp();
    const std::string dir = std::string(MOAT_TEST_BUILD_DIR) + "/modules";
    if (access((dir + "/mod_anon_upload.so").c_str(), F_OK) != 0)
      GTEST_SKIP() << "mod_anon_upload is not built";
    auto reg = ModuleRegistry::load(dir, {{"mod_anon_upload", "test"}});
    ASSERT_TRUE(reg.ok()) << reg.error();
    cfg_.modules = *reg;
    passwd* daemon_user = getpwnam("daemon");
    ASSERT_NE(daemon_user, nullptr) << "these tests need the user daemon";
    owner_uid_ = daemon_user->pw_uid;
    for (const char* line : {"write_enable=YES", "anon_upload_enable=YES", "chown_uploads=YES",
                             "chown_username=daemon", "chown_upload_mode=0640"})
      ASSERT_TRUE(config_apply_line(cfg_, line).ok()) << line;
  }

  // A file in the anonymous root, owned by `uid`, as an upload would be.
  UniqueFd upload(const char* name, uid_t uid) {
    std::string path = anon_root_ + "/" + name;
    UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd) << path;
    EXPECT_EQ(fchown(fd.get(), uid, uid), 0);
    return fd;
  }

  struct stat stat_of(const char* name) const {
    struct stat st {};
    stat((anon_root_ + "/" + name).c_str(), &st);
    return st;
  }

  uid_t owner_uid_ = 0;

  // The worker's request for a new upload: mod_anon_upload (load_module index 0), type 1,
  // no payload, the file's descriptor. Granted or not; nothing if the helper said nothing.
  static std::optional<bool> chown_request(int ipc, int fd, std::vector<uint8_t> payload = {}) {
    auto req = encode(ModulePrivRequest{0, 1, std::move(payload)});
    auto m = ask(ipc, MsgType::kModulePriv, req, std::span(&fd, fd >= 0 ? 1 : 0));
    if (!m || m->type != MsgType::kModulePrivResult) return std::nullopt;
    auto r = decode<ModulePrivResult>(m->payload);
    if (!r) return std::nullopt;
    return r->ok;
  }
};

TEST_F(HelperChown, AnonymousWritesGetTheWritePolicy) {
  Launch pre = start();
  Launch post = logged_in(pre);
  EXPECT_TRUE(post.info.write_enable);
  EXPECT_TRUE(post.info.policy_write);
}

TEST_F(HelperChown, WithoutWriteEnableAnonymousStaysReadOnly) {
  ASSERT_TRUE(config_apply_line(cfg_, "write_enable=NO").ok());
  Launch pre = start();
  Launch post = logged_in(pre);
  EXPECT_FALSE(post.info.write_enable);
  EXPECT_FALSE(post.info.policy_write);
  UniqueFd f = upload("up.bin", nobody_uid_);
  EXPECT_EQ(chown_request(post.ipc.get(), f.get()), std::optional(false));
  EXPECT_EQ(stat_of("up.bin").st_uid, nobody_uid_);
}

TEST_F(HelperChown, AnUploadGoesToChownUsernameWithItsMode) {
  Launch pre = start();
  Launch post = logged_in(pre);
  UniqueFd f = upload("up.bin", nobody_uid_);
  EXPECT_EQ(chown_request(post.ipc.get(), f.get()), std::optional(true));
  struct stat st = stat_of("up.bin");
  EXPECT_EQ(st.st_uid, owner_uid_);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// Each refusal is an answer: the worker's module then ends the session itself.
TEST_F(HelperChown, AHardLinkIsRefused) {
  Launch pre = start();
  Launch post = logged_in(pre);
  UniqueFd f = upload("up.bin", nobody_uid_);
  ASSERT_EQ(link((anon_root_ + "/up.bin").c_str(), (anon_root_ + "/other").c_str()), 0);
  EXPECT_EQ(chown_request(post.ipc.get(), f.get()), std::optional(false));
  EXPECT_EQ(stat_of("other").st_uid, nobody_uid_);
}

TEST_F(HelperChown, SomeoneElsesFileIsRefused) {
  Launch pre = start();
  Launch post = logged_in(pre);
  UniqueFd f = upload("shadow", 0);
  EXPECT_EQ(chown_request(post.ipc.get(), f.get()), std::optional(false));
  EXPECT_EQ(stat_of("shadow").st_uid, 0u);
}

TEST_F(HelperChown, ADirectoryIsRefused) {
  Launch pre = start();
  Launch post = logged_in(pre);
  std::string dir = anon_root_ + "/d";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir.c_str(), nobody_uid_, nobody_uid_), 0);
  UniqueFd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(chown_request(post.ipc.get(), d.get()), std::optional(false));
  EXPECT_EQ(stat_of("d").st_uid, nobody_uid_);
}

TEST_F(HelperChown, BeforeLoginEndsTheSession) {
  Launch pre = start();
  UniqueFd f = upload("up.bin", nobody_uid_);
  int fd = f.get();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kModulePriv,
                       encode(ModulePrivRequest{0, 1, {}}), std::span(&fd, 1)));
  expect_ended(pre.ipc.get(), "out of state");
  EXPECT_EQ(stat_of("up.bin").st_uid, nobody_uid_);
}

TEST_F(HelperChown, WithoutTheFileOrWithAPayloadIsRefused) {
  Launch pre = start();
  Launch post = logged_in(pre);
  EXPECT_EQ(chown_request(post.ipc.get(), -1), std::optional(false));
  UniqueFd f = upload("up.bin", nobody_uid_);
  EXPECT_EQ(chown_request(post.ipc.get(), f.get(), {1}), std::optional(false));
  EXPECT_EQ(stat_of("up.bin").st_uid, nobody_uid_);
}

// ---- MODULE_PRIV (a module's own privileged requests) ------------------------------------

// mod_anon_upload (load_module index 0, no priv_handler) and mod_hooktest (index 1),
// whose priv_handler grants type 1 with the payload "ok" and logs every request it
// judges to stderr ("mod_hooktest: priv ...").
class HelperModulePriv : public HelperTable {
 protected:
  static constexpr uint16_t kAnonUpload = 0;
  static constexpr uint16_t kHooktest = 1;

  void SetUp() override {
    HelperTable::SetUp();
    const std::string dir = std::string(MOAT_TEST_BUILD_DIR) + "/modules";
    for (const char* so : {"/mod_anon_upload.so", "/mod_hooktest.so"})
      if (access((dir + so).c_str(), F_OK) != 0) GTEST_SKIP() << so << " is not built";
    auto reg = ModuleRegistry::load(dir, {{"mod_anon_upload", "test"}, {"mod_hooktest", "test"}});
    ASSERT_TRUE(reg.ok()) << reg.error();
    cfg_.modules = *reg;
    testing::internal::CaptureStderr();  // init's own report of what the host answers
    const bool init_ok = cfg_.modules->init(cfg_).ok();  // as the master does before any fork
    testing::internal::GetCapturedStderr();
    ASSERT_TRUE(init_ok);
  }


  static std::vector<uint8_t> request(uint16_t module, std::string_view payload,
                                      uint16_t type = 1) {
    return encode(ModulePrivRequest{module, type, {payload.begin(), payload.end()}});
  }

  // The helper's answer to one request: granted or not; nothing if it sent no answer.
  static std::optional<bool> priv(int ipc, uint16_t module, std::string_view payload,
                                  uint16_t type = 1, std::span<const int> fds = {}) {
    auto m = ask(ipc, MsgType::kModulePriv, request(module, payload, type), fds);
    if (!m || m->type != MsgType::kModulePrivResult || !m->fds.empty()) return std::nullopt;
    auto r = decode<ModulePrivResult>(m->payload);
    if (!r) return std::nullopt;
    return r->ok;
  }

  // What the helper has written to stderr so far (it logs before it answers).
  std::string helper_stderr() {
    std::string text;
    char buf[4096];
    ssize_t n;
    fcntl(stderr_.get(), F_SETFL, O_NONBLOCK);
    while ((n = read(stderr_.get(), buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    return text;
  }

  static size_t count(const std::string& text, std::string_view what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
};

TEST_F(HelperModulePriv, BeforeLoginEndsTheSession) {
  Launch pre = start();
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kModulePriv, request(kHooktest, "ok")));
  Aftermath a = aftermath(pre.ipc.get());
  EXPECT_TRUE(a.eof && a.exited && !a.granted && a.replies == 0) << a.stderr_text;
  EXPECT_NE(a.stderr_text.find("out of state"), std::string::npos) << a.stderr_text;
  EXPECT_EQ(a.stderr_text.find("mod_hooktest: priv"), std::string::npos) << "handler was asked";
}

TEST_F(HelperModulePriv, BetweenLoginAndHandoverEndsTheSession) {
  Launch pre = start();
  auto r = login(pre.ipc.get(), "anonymous");
  ASSERT_TRUE(r && r->ok);
  ASSERT_TRUE(ipc_send(pre.ipc.get(), MsgType::kModulePriv, request(kHooktest, "ok")));
  Aftermath a = aftermath(pre.ipc.get());
  EXPECT_TRUE(a.eof && a.exited && !a.granted && !a.launched) << a.stderr_text;
  EXPECT_EQ(a.stderr_text.find("mod_hooktest: priv"), std::string::npos) << a.stderr_text;
}

TEST_F(HelperModulePriv, AfterLoginTheAskingModulesHandlerDecides) {
  Launch pre = start();
  Launch post = logged_in(pre);
  const int ipc = post.ipc.get();
  EXPECT_EQ(priv(ipc, kHooktest, "ok"), std::optional<bool>(true));
  EXPECT_EQ(priv(ipc, kHooktest, "no"), std::optional<bool>(false));
  EXPECT_EQ(priv(ipc, kHooktest, "ok", 2), std::optional<bool>(false));  // another type
  EXPECT_EQ(priv(ipc, kHooktest, ""), std::optional<bool>(false));
  EXPECT_EQ(priv(ipc, kHooktest, std::string(kMaxModulePayload, 'o')),
            std::optional<bool>(false));
  // No handler, no such module: refused by the core without asking anyone.
  EXPECT_EQ(priv(ipc, kAnonUpload, "ok"), std::optional<bool>(false));
  EXPECT_EQ(priv(ipc, 2, "ok"), std::optional<bool>(false));
  EXPECT_EQ(priv(ipc, 0xffff, "ok"), std::optional<bool>(false));
  // Refusals are answers: the session goes on and is granted again.
  EXPECT_EQ(priv(ipc, kHooktest, "ok"), std::optional<bool>(true));
  const std::string err = helper_stderr();
  EXPECT_EQ(count(err, "mod_hooktest: priv "), 6u) << err;  // mod_hooktest's requests only
  // The six requests and the anonymous login's login_rights, all in the helper, as root.
  EXPECT_EQ(count(err, " comm=moat-helper uid=0 "), 7u) << err;
  EXPECT_EQ(count(err, "mod_hooktest: login_rights "), 1u) << err;
  EXPECT_EQ(count(err, "grant=1"), 2u) << err;
  EXPECT_NE(err.find("type=1 len=2 payload=ok fd=none user=nobody peer=127.0.0.1"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("len=4096 "), std::string::npos) << err;
}

TEST_F(HelperModulePriv, ADescriptorIsPassedToTheHandlerAndClosed) {
  Launch pre = start();
  Launch post = logged_in(pre);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd reader(p[0]), writer(p[1]);
  const int fd = reader.get();
  EXPECT_EQ(priv(post.ipc.get(), kHooktest, "ok", 1, std::span(&fd, 1)),
            std::optional<bool>(true));
  reader.reset();
  // The helper's copy is gone too: the pipe has no reader left.
  pollfd pf{writer.get(), POLLOUT, 0};
  ASSERT_EQ(poll(&pf, 1, 0), 1);
  EXPECT_TRUE(pf.revents & POLLERR) << pf.revents;
  EXPECT_NE(helper_stderr().find("fd=fifo"), std::string::npos);
  // A refused request's descriptor is closed as well.
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  reader.reset(p[0]);
  writer.reset(p[1]);
  const int fd2 = reader.get();
  EXPECT_EQ(priv(post.ipc.get(), kHooktest, "no", 1, std::span(&fd2, 1)),
            std::optional<bool>(false));
  reader.reset();
  pf = pollfd{writer.get(), POLLOUT, 0};
  ASSERT_EQ(poll(&pf, 1, 0), 1);
  EXPECT_TRUE(pf.revents & POLLERR) << pf.revents;
}

TEST_F(HelperModulePriv, TwoDescriptorsEndTheSession) {
  Launch pre = start();
  Launch post = logged_in(pre);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd reader(p[0]), writer(p[1]);
  const int fds[2] = {reader.get(), reader.get()};
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kModulePriv, request(kHooktest, "ok"), fds));
  Aftermath a = aftermath(post.ipc.get());
  EXPECT_TRUE(a.eof && a.exited && !a.granted && a.replies == 0) << a.stderr_text;
  EXPECT_NE(a.stderr_text.find("more than one descriptor"), std::string::npos) << a.stderr_text;
  EXPECT_EQ(a.stderr_text.find("mod_hooktest: priv"), std::string::npos) << a.stderr_text;
}

TEST_F(HelperModulePriv, MalformedRequestsEndTheSession) {
  auto trailing = request(kHooktest, "ok");
  trailing.push_back(0);
  auto truncated = request(kHooktest, "ok");
  truncated.pop_back();
  const std::vector<std::vector<uint8_t>> bad = {
      {}, trailing, truncated, request(kHooktest, std::string(kMaxModulePayload + 1, 'o'))};
  for (const auto& payload : bad) {
    Launch pre = start();
    Launch post = logged_in(pre);
    ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kModulePriv, payload));
    Aftermath a = aftermath(post.ipc.get());
    EXPECT_TRUE(a.eof && a.exited && !a.granted && a.replies == 0) << a.stderr_text;
    EXPECT_NE(a.stderr_text.find("bad MODULE_PRIV"), std::string::npos) << a.stderr_text;
  }
}

TEST_F(HelperModulePriv, AfterReinItIsOutOfStateAgain) {
  Launch pre = start();
  Launch post = logged_in(pre);
  EXPECT_EQ(priv(post.ipc.get(), kHooktest, "ok"), std::optional<bool>(true));
  int fd = post.control.get();
  ASSERT_TRUE(ipc_send(post.ipc.get(), MsgType::kHandover, encode(Handover{}), std::span(&fd, 1)));
  auto again = receive_launch(channel_.get());
  ASSERT_TRUE(again.has_value());
  ASSERT_FALSE(again->info.logged_in);
  ASSERT_TRUE(ipc_send(again->ipc.get(), MsgType::kModulePriv, request(kHooktest, "ok")));
  expect_ended(again->ipc.get(), "out of state");
}

}  // namespace
}  // namespace moat
