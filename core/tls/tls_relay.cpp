// SPDX-License-Identifier: GPL-2.0-or-later
// The control-channel TLS relay (the pre-login worker after a TLS login): plaintext
// between the client's TLS connection and the post-login worker's socketpair.
#include "core/tls/tls_relay.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <span>
#include <vector>

#include "core/common/util.hpp"

namespace moat {
namespace {

constexpr std::size_t kQueueBytes = 64 * 1024;  // four full TLS records
constexpr int kCloseNotifyMs = 10'000;           // to get close_notify out to a slow client
constexpr int kAnswerCloseNotifyMs = 1'000;      // the client is leaving: don't wait long
constexpr int kLingerMs = 2'000;                 // for the client to close after ours

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

// True when fd became ready for events before the deadline.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const int left = ms_left(deadline);
    if (left == 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, left);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Bytes read from one side waiting to be written to the other. It is refilled only
// once empty, so neither side is read faster than the other can take it.
class Queue {
 public:
  explicit Queue(const std::string& initial)
      : buf_(std::max(kQueueBytes, initial.size())), end_(initial.size()) {
    std::copy(initial.begin(), initial.end(), buf_.begin());
  }
  bool empty() const { return begin_ == end_; }
  std::span<const char> data() const { return {buf_.data() + begin_, end_ - begin_}; }
  std::span<char> space() {
    if (empty()) begin_ = end_ = 0;
    return {buf_.data() + end_, buf_.size() - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) { begin_ += n; }
  void drop() { begin_ = end_ = 0; }

 private:
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

int clamp_int(std::size_t n) { return static_cast<int>(std::min<std::size_t>(n, INT32_MAX)); }

class Relay {
 public:
  Relay(SSL* ssl, int client_fd, int inner_fd, const std::string& to_inner)
      : ssl_(ssl), client_(client_fd), inner_(inner_fd), up_(to_inner), down_(std::string()) {}
  [[noreturn]] void run();

 private:
  void from_client();
  void to_inner();
  void from_inner();
  void to_client();
  void wait() const;
  void client_ended(bool clean);
  bool send_close_notify(int timeout_ms);
  void linger();
  [[noreturn]] void finish_inner_closed();
  [[noreturn]] void finish_client_closed();

  SSL* ssl_;
  int client_;
  int inner_;
  Queue up_;    // client -> inner
  Queue down_;  // inner -> client
  bool client_done_ = false;
  bool client_clean_ = false;  // the client ended with close_notify
  bool inner_done_ = false;
  bool progressed_ = false;
  short client_events_ = 0;  // what the last blocked operations wait for
  short inner_events_ = 0;
};

void Relay::client_ended(bool clean) {
  ERR_clear_error();
  client_done_ = true;
  client_clean_ = clean;
  progressed_ = true;
}

// SSL_read until OpenSSL has no more: decrypted bytes it still holds (SSL_pending)
// are taken before poll() is asked about the socket.
void Relay::from_client() {
  const std::span<char> space = up_.space();
  ERR_clear_error();
  const int n = SSL_read(ssl_, space.data(), clamp_int(space.size()));
  if (n > 0) {
    up_.commit(static_cast<std::size_t>(n));
    progressed_ = true;
    return;
  }
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ) {
    client_events_ |= POLLIN;
  } else if (err == SSL_ERROR_WANT_WRITE) {
    client_events_ |= POLLOUT;
  } else {
    client_ended(err == SSL_ERROR_ZERO_RETURN);
  }
}

void Relay::to_inner() {
  const std::span<const char> data = up_.data();
  const ssize_t n = ::send(inner_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) {
    up_.consume(static_cast<std::size_t>(n));
    progressed_ = true;
  } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    inner_events_ |= POLLOUT;
  } else {
    if (n < 0 && errno != EINTR) {
      up_.drop();  // the post-login worker is gone: nobody to deliver to
      inner_done_ = true;
    }
    progressed_ = true;  // or try again after EINTR
  }
}

void Relay::from_inner() {
  const std::span<char> space = down_.space();
  const ssize_t n = ::recv(inner_, space.data(), space.size(), MSG_DONTWAIT);
  if (n > 0) {
    down_.commit(static_cast<std::size_t>(n));
    progressed_ = true;
  } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    inner_events_ |= POLLIN;
  } else {
    if (n == 0 || errno != EINTR) inner_done_ = true;
    progressed_ = true;  // or try again after EINTR
  }
}

void Relay::to_client() {
  const std::span<const char> data = down_.data();
  ERR_clear_error();
  const int n = SSL_write(ssl_, data.data(), clamp_int(data.size()));
  if (n > 0) {
    down_.consume(static_cast<std::size_t>(n));
    progressed_ = true;
    return;
  }
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_WRITE) {
    client_events_ |= POLLOUT;
  } else if (err == SSL_ERROR_WANT_READ) {
    client_events_ |= POLLIN;
  } else {
    down_.drop();
    client_ended(false);
  }
}

void Relay::wait() const {
  pollfd p[2];
  nfds_t n = 0;
  if (client_events_ != 0) p[n++] = {client_, client_events_, 0};
  if (inner_events_ != 0) p[n++] = {inner_, inner_events_, 0};
  if (n == 0) ::_exit(1);  // nothing to wait for and nothing moved: cannot happen
  while (::poll(p, n, -1) < 0 && errno == EINTR) {
  }
}

// First half of the TLS shutdown only: the close_notify goes out; the client's own is
// not awaited (linger() reads whatever comes).
bool Relay::send_close_notify(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_shutdown(ssl_);
    if (rc >= 0) return true;
    const int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) return false;
    if (!wait_ready(client_, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline)) return false;
  }
}

// Closing a socket with unread input makes the kernel send a reset, which can destroy
// the last reply and close_notify before the client reads them. So read (and discard)
// until the client closes, for a little while.
void Relay::linger() {
  ::shutdown(client_, SHUT_WR);
  const auto deadline = Clock::now() + std::chrono::milliseconds(kLingerMs);
  char sink[4096];
  while (wait_ready(client_, POLLIN, deadline)) {
    const ssize_t n = ::read(client_, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

void Relay::finish_inner_closed() {
  if (!client_done_ || client_clean_) {
    if (send_close_notify(kCloseNotifyMs)) linger();
  }
  ::_exit(0);
}

void Relay::finish_client_closed() {
  if (client_clean_) send_close_notify(kAnswerCloseNotifyMs);
  ::shutdown(inner_, SHUT_WR);
  ::_exit(0);
}

void Relay::run() {
  for (;;) {
    progressed_ = false;
    client_events_ = inner_events_ = 0;
    if (up_.empty() && !client_done_) from_client();
    if (!up_.empty()) to_inner();
    if (down_.empty() && !inner_done_) from_inner();
    if (!down_.empty() && !client_done_) to_client();
    if (client_done_ && up_.empty()) finish_client_closed();
    if (inner_done_ && down_.empty()) finish_inner_closed();
    if (!progressed_) wait();
  }
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

void tls_relay(SSL* ssl, int client_fd, int inner_fd, std::string to_inner) {
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error return, not a signal
  set_nonblocking(client_fd);
  set_nonblocking(inner_fd);
  set_tcp_nodelay(client_fd);  // each reply's record goes out at once
  if (SSL_get_fd(ssl) != client_fd) SSL_set_fd(ssl, client_fd);
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  Relay relay(ssl, client_fd, inner_fd, to_inner);
  relay.run();
}

}  // namespace moat
