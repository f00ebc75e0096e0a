// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/tls_relay: the relay runs in a forked child under the pre-login
// seccomp profile, between a real TLS client (here) and the "post-login worker's"
// end of its socketpair (also here).
#include "core/tls/tls_relay.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <csignal>
#include <thread>

#include "privsep/sandbox.hpp"
#include "tests/unit/tls_test_util.hpp"

namespace moat {
namespace {

using tls_test::Pair;
using tls_test::socket_pair;

constexpr std::size_t kBig = std::size_t{4} << 20;

class TlsRelay : public tls_test::WithFiles {};

// The client's side of a running relay, and the post-login worker's socket.
struct RunningRelay {
  pid_t pid = -1;
  UniqueFd client_fd;
  UniqueFd worker;
  tls_test::CtxPtr client_ctx;
  SslPtr client;

  ~RunningRelay() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  // The relay's exit status; it must exit by itself.
  int wait_exit() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
};

[[noreturn]] void relay_child(SSL* ssl, int client_fd, int inner_fd, const std::string& to_inner) {
  ::alarm(30);  // a relay that never ends fails the test instead of hanging it
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(3);
  SeccompPolicy policy;
  policy.profile = SeccompProfile::kPreauth;
  if (!seccomp_install(policy)) ::_exit(4);
  tls_relay(ssl, client_fd, inner_fd, to_inner);
}

void start(RunningRelay& r, const std::string& to_inner = {}) {
  auto ctx = tls_test::server_ctx(tls_test::tls_config());
  Pair tcp = socket_pair();
  Pair inner = socket_pair();
  r.client_ctx = tls_test::client_ctx({});
  r.client.reset(SSL_new(r.client_ctx.get()));
  SSL_set_fd(r.client.get(), tcp.client.get());
  bool connected = false;
  std::thread t([&] { connected = SSL_connect(r.client.get()) == 1; });
  auto server = tls_accept_control(ctx.get(), tcp.server.get(), 5);
  t.join();
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(connected);
  r.pid = ::fork();
  ASSERT_GE(r.pid, 0);
  if (r.pid == 0) {
    tcp.client.reset();
    inner.client.reset();
    relay_child(server->get(), tcp.server.get(), inner.server.get(), to_inner);
  }
  r.client_fd = std::move(tcp.client);
  r.worker = std::move(inner.client);
}

std::string read_exact(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t k = ::read(fd, out.data() + got, n - got);
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  out.resize(got);
  return out;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t k = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (k <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(k));
  }
}

std::string ssl_read_exact(SSL* ssl, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const int k = SSL_read(ssl, out.data() + got, static_cast<int>(n - got));
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  out.resize(got);
  return out;
}

bool ssl_write_all(SSL* ssl, std::string_view data) {
  return SSL_write(ssl, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * seed + (i >> 12)) & 0xff);
  return s;
}

bool exited_cleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Client side of the big transfer: writes and reads at the same time on one SSL.
bool pump_client(SSL* ssl, int fd, const std::string& out, std::string& in) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::size_t sent = 0;
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((sent < out.size() || got < in.size()) && std::chrono::steady_clock::now() < deadline) {
    short events = 0;
    bool moved = false;
    if (sent < out.size()) {
      const int chunk = static_cast<int>(std::min<std::size_t>(out.size() - sent, 65536));
      const int k = SSL_write(ssl, out.data() + sent, chunk);
      const int err = k > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, k);
      if (k > 0) sent += static_cast<std::size_t>(k), moved = true;
      else if (err == SSL_ERROR_WANT_WRITE) events |= POLLOUT;
      else if (err == SSL_ERROR_WANT_READ) events |= POLLIN;
      else return false;
    }
    if (got < in.size()) {
      const int k = SSL_read(ssl, in.data() + got, static_cast<int>(in.size() - got));
      const int err = k > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, k);
      if (k > 0) got += static_cast<std::size_t>(k), moved = true;
      else if (err == SSL_ERROR_WANT_READ) events |= POLLIN;
      else if (err == SSL_ERROR_WANT_WRITE) events |= POLLOUT;
      else return false;
    }
    if (!moved) {
      pollfd p{fd, events, 0};
      ::poll(&p, 1, 1000);
    }
  }
  ::fcntl(fd, F_SETFL, flags);
  return sent == out.size() && got == in.size();
}

// The whole pre-login worker's TLS life under its seccomp filter: the handshake
// (tls_accept_control), then the relay.
TEST_F(TlsRelay, HandshakeAndRelayUnderTheFilter) {
  auto ctx = tls_test::server_ctx(tls_test::tls_config());
  Pair tcp = socket_pair();
  Pair inner = socket_pair();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    tcp.client.reset();
    inner.client.reset();
    ::alarm(30);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(3);
    if (!seccomp_install(SeccompPolicy{})) ::_exit(4);
    auto ssl = tls_accept_control(ctx.get(), tcp.server.get(), 10);
    if (!ssl || tls_control_tag().size() != 16) ::_exit(5);
    tls_relay(ssl->get(), tcp.server.get(), inner.server.get());
  }
  RunningRelay r;
  r.pid = pid;
  tcp.server.reset();
  inner.server.reset();
  r.client_ctx = tls_test::client_ctx({});
  r.client.reset(SSL_new(r.client_ctx.get()));
  SSL_set_fd(r.client.get(), tcp.client.get());
  ASSERT_EQ(SSL_connect(r.client.get()), 1);
  ASSERT_TRUE(ssl_write_all(r.client.get(), "USER ftp\r\n"));
  EXPECT_EQ(read_exact(inner.client.get(), 10), "USER ftp\r\n");
  write_all(inner.client.get(), "331 ok\r\n");
  EXPECT_EQ(ssl_read_exact(r.client.get(), 8), "331 ok\r\n");
  inner.client.reset();
  char c;
  EXPECT_EQ(SSL_read(r.client.get(), &c, 1), 0);
  tcp.client.reset();
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

TEST_F(TlsRelay, BytesBothWays) {
  RunningRelay r;
  ASSERT_NO_FATAL_FAILURE(start(r, "PASV\r\n"));  // pipelined before the hand-over
  ASSERT_TRUE(ssl_write_all(r.client.get(), "LIST\r\n"));
  EXPECT_EQ(read_exact(r.worker.get(), 12), "PASV\r\nLIST\r\n");
  const std::string reply = "227 Entering Passive Mode (127,0,0,1,4,1).\r\n";
  write_all(r.worker.get(), reply);
  EXPECT_EQ(ssl_read_exact(r.client.get(), reply.size()), reply);
  ASSERT_TRUE(ssl_write_all(r.client.get(), "NOOP\r\n"));
  EXPECT_EQ(read_exact(r.worker.get(), 6), "NOOP\r\n");
  r.worker.reset();
  EXPECT_EQ(ssl_read_exact(r.client.get(), 1), "");
  EXPECT_EQ(SSL_get_error(r.client.get(), 0), SSL_ERROR_ZERO_RETURN);
  r.client_fd.reset();
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

TEST_F(TlsRelay, LargeTransferBothDirectionsAtOnce) {
  RunningRelay r;
  ASSERT_NO_FATAL_FAILURE(start(r));
  const std::string up = pattern(kBig, 7);
  const std::string down = pattern(kBig, 13);
  std::string worker_got;
  std::thread reader([&] { worker_got = read_exact(r.worker.get(), kBig); });
  std::thread writer([&] { write_all(r.worker.get(), down); });
  std::string client_got(kBig, '\0');
  const bool pumped = pump_client(r.client.get(), r.client_fd.get(), up, client_got);
  reader.join();
  writer.join();
  EXPECT_TRUE(pumped);
  EXPECT_TRUE(worker_got == up) << "client to worker: " << worker_got.size() << " bytes";
  EXPECT_TRUE(client_got == down) << "worker to client differs";
  r.worker.reset();
  char c;
  EXPECT_EQ(SSL_read(r.client.get(), &c, 1), 0);
  r.client_fd.reset();
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

TEST_F(TlsRelay, InnerCloseSendsCloseNotify) {
  RunningRelay r;
  ASSERT_NO_FATAL_FAILURE(start(r));
  write_all(r.worker.get(), "221 Goodbye.\r\n");
  r.worker.reset();  // the post-login worker is done
  EXPECT_EQ(ssl_read_exact(r.client.get(), 14), "221 Goodbye.\r\n");
  char c;
  const int n = SSL_read(r.client.get(), &c, 1);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(SSL_get_error(r.client.get(), n), SSL_ERROR_ZERO_RETURN);  // close_notify, not EOF
  EXPECT_TRUE(SSL_get_shutdown(r.client.get()) & SSL_RECEIVED_SHUTDOWN);
  SSL_shutdown(r.client.get());
  r.client_fd.reset();
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

TEST_F(TlsRelay, ClientCloseNotifyGivesInnerEof) {
  RunningRelay r;
  ASSERT_NO_FATAL_FAILURE(start(r));
  ASSERT_TRUE(ssl_write_all(r.client.get(), "QUIT\r\n"));
  EXPECT_EQ(SSL_shutdown(r.client.get()), 0);  // our close_notify is out
  EXPECT_EQ(read_exact(r.worker.get(), 6), "QUIT\r\n");
  char c;
  EXPECT_EQ(::read(r.worker.get(), &c, 1), 0);  // then EOF
  EXPECT_EQ(SSL_shutdown(r.client.get()), 1);   // and the relay answered close_notify
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

TEST_F(TlsRelay, ClientTcpEofGivesInnerEof) {
  RunningRelay r;
  ASSERT_NO_FATAL_FAILURE(start(r));
  ASSERT_TRUE(ssl_write_all(r.client.get(), "NOOP\r\n"));
  r.client.reset();
  r.client_fd.reset();  // gone without close_notify
  EXPECT_EQ(read_exact(r.worker.get(), 6), "NOOP\r\n");
  char c;
  EXPECT_EQ(::read(r.worker.get(), &c, 1), 0);
  const int status = r.wait_exit();
  EXPECT_TRUE(exited_cleanly(status)) << describe(status);
}

}  // namespace
}  // namespace moat
