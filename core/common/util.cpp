// SPDX-License-Identifier: GPL-2.0-or-later
// Shared helpers declared in util.hpp.
#include "core/common/util.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace moat {

std::string errno_text(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);
}

void set_tcp_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void sockaddr_unmap(sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET6) return;
  const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss);
  if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) return;
  sockaddr_in a4{};
  a4.sin_family = AF_INET;
  a4.sin_port = a6.sin6_port;
  std::memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
  ss = sockaddr_storage{};
  std::memcpy(&ss, &a4, sizeof a4);
}

}  // namespace moat
