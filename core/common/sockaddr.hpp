// SPDX-License-Identifier: GPL-2.0-or-later
// Socket addresses as text and compared by host: shared by every process (the
// helper's log lines and checks as well as the worker's PORT rules).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace moat {

// Compare two socket addresses' host part (family and IP, ports ignored; an
// IPv4-mapped IPv6 address equals its IPv4 form).
bool same_host(const sockaddr_storage& a, const sockaddr_storage& b);
uint16_t sockaddr_port(const sockaddr_storage& a);
std::string sockaddr_host_text(const sockaddr_storage& a);  // "127.0.0.1", "::1"
// The same into `out` ("" for another family), allocating nothing (the master's accept).
void sockaddr_host_text(const sockaddr_storage& a, char (&out)[INET6_ADDRSTRLEN]);

}  // namespace moat
