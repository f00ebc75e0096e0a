// SPDX-License-Identifier: GPL-2.0-or-later
// The client's host name as tcp_wrappers' PARANOID check defines it: the reverse lookup, confirmed
// by a forward lookup. Run only in the resolver child (privsep/wrappers.cpp), which has nothing but
// its seccomp profile and a socket.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>

namespace moat {

// libwrap's words for a name it could not find and one it does not believe; rules match them as
// UNKNOWN and PARANOID.
inline constexpr char kHostUnknown[] = "unknown";
inline constexpr char kHostParanoid[] = "paranoid";

// The longest name libwrap keeps (STRING_LENGTH 128, with its terminator).
inline constexpr std::size_t kMaxHostName = 127;

// As libwrap's sock_hostname: kHostUnknown when the address has no name; kHostParanoid when the
// name is numeric, has no address, is not its own canonical name (localhost excepted), does not map
// back to the address, or is longer than kMaxHostName; otherwise the name.
std::string verified_host_name(const sockaddr_storage& peer);

}  // namespace moat
