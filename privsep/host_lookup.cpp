// SPDX-License-Identifier: GPL-2.0-or-later
// Reverse and forward-confirmed host name lookups for tcp_wrappers.
#include "privsep/host_lookup.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>

#include <cstring>
#include <memory>

namespace moat {
namespace {

struct AddrinfoFree {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
using Addrinfo = std::unique_ptr<addrinfo, AddrinfoFree>;

socklen_t sockaddr_size(const sockaddr_storage& a) {
  return a.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

Addrinfo lookup(const std::string& name, int family, int flags) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return nullptr;
  return Addrinfo(res);
}

bool same_address(const sockaddr* a, const sockaddr_storage& peer) {
  if (a->sa_family != peer.ss_family) return false;
  if (a->sa_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr.s_addr;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr,
                     sizeof(in6_addr)) == 0;
}

// The forward lookup names the same host and lists the address among its own.
bool confirmed(const std::string& name, const sockaddr_storage& peer) {
  Addrinfo res = lookup(name, peer.ss_family, AI_CANONNAME);
  if (!res) return false;
  const char* canon = res->ai_canonname;
  if ((canon == nullptr || strcasecmp(canon, name.c_str()) != 0) &&
      strcasecmp(name.c_str(), "localhost") != 0)
    return false;
  for (const addrinfo* ai = res.get(); ai != nullptr; ai = ai->ai_next)
    if (same_address(ai->ai_addr, peer)) return true;
  return false;
}

}  // namespace

std::string verified_host_name(const sockaddr_storage& peer) {
  if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return kHostUnknown;
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&peer), sockaddr_size(peer), host, sizeof host,
                  nullptr, 0, NI_NAMEREQD) != 0)
    return kHostUnknown;
  const std::string name = host;
  // A PTR record that reads as an address would match that address's rules.
  if (name.size() > kMaxHostName || lookup(name, AF_UNSPEC, AI_NUMERICHOST)) return kHostParanoid;
  return confirmed(name, peer) ? name : kHostParanoid;
}

}  // namespace moat
