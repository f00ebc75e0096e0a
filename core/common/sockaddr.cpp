// SPDX-License-Identifier: GPL-2.0-or-later
// Socket addresses as text and compared by host (sockaddr.hpp).
#include "core/common/sockaddr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace moat {
namespace {

// Host part of an address in comparable form: IPv4-mapped IPv6 folds into IPv4.
struct HostKey {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};
  uint32_t scope = 0;
};

HostKey host_key(const sockaddr_storage& ss) {
  HostKey k;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    k.family = AF_INET;
    std::memcpy(k.bytes, &sin->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      k.family = AF_INET;
      std::memcpy(k.bytes, sin6->sin6_addr.s6_addr + 12, 4);
    } else {
      k.family = AF_INET6;
      std::memcpy(k.bytes, sin6->sin6_addr.s6_addr, 16);
      k.scope = sin6->sin6_scope_id;
    }
  }
  return k;
}

}  // namespace

bool same_host(const sockaddr_storage& a, const sockaddr_storage& b) {
  HostKey ka = host_key(a), kb = host_key(b);
  if (ka.family == AF_UNSPEC || ka.family != kb.family) return false;
  return ka.scope == kb.scope && std::memcmp(ka.bytes, kb.bytes, sizeof ka.bytes) == 0;
}

uint16_t sockaddr_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  if (a.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  return 0;
}

void sockaddr_host_text(const sockaddr_storage& a, char (&out)[INET6_ADDRSTRLEN]) {
  const void* src = nullptr;
  if (a.ss_family == AF_INET) src = &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr;
  if (a.ss_family == AF_INET6) src = &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
  if (!src || !inet_ntop(a.ss_family, src, out, sizeof out)) out[0] = '\0';
}

std::string sockaddr_host_text(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN];
  sockaddr_host_text(a, buf);
  return buf;
}

}  // namespace moat
