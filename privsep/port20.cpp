// SPDX-License-Identifier: GPL-2.0-or-later
// Port-20 data connections, made by the helper (root) and handed over connected.
#include "privsep/port20.hpp"

#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <chrono>

namespace moat {
namespace {

socklen_t sockaddr_len(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

void set_port(sockaddr_storage& ss, uint16_t port) {
  if (ss.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in&>(ss).sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6&>(ss).sin6_port = htons(port);
}

// The connection's outcome once the socket is writable, or ETIMEDOUT after timeout_ms.
int wait_connected(int fd, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd, POLLOUT, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

}  // namespace

Result<UniqueFd> port20_connect(sockaddr_storage local, uint16_t port,
                                const sockaddr_storage& target, unsigned timeout_s) {
  sockaddr_unmap(local);  // a dual-stack listener: bind the IPv4 form for an IPv4 client
  if (local.ss_family != target.ss_family)
    return fail("the data connection must use the control connection's address family");
  set_port(local, port);
  UniqueFd s(socket(local.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int one = 1;
  if (!s || setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(s.get(), reinterpret_cast<const sockaddr*>(&local), sockaddr_len(local)) != 0)
    return fail("cannot bind port " + std::to_string(port) + ": " + errno_text(errno));
  const int wait_ms = static_cast<int>(timeout_s ? timeout_s : kPort20MaxWait) * 1000;
  int err = 0;
  if (connect(s.get(), reinterpret_cast<const sockaddr*>(&target), sockaddr_len(target)) != 0)
    err = errno == EINPROGRESS ? wait_connected(s.get(), wait_ms) : errno;
  if (err != 0) return fail("cannot connect: " + errno_text(err));
  return s;
}

}  // namespace moat
