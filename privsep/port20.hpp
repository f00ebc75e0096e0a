// SPDX-License-Identifier: GPL-2.0-or-later
// connect_from_port_20: the helper's side of an active data connection. The worker
// never holds a socket bound to a privileged port that is not yet connected.
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "core/common/util.hpp"

namespace moat {

// A TCP socket bound to `local` (its address, port `port`) and connected to `target`,
// or why not. Waits at most timeout_s seconds for the connection (0: kPort20MaxWait),
// so an unresponsive client stalls this session's helper no longer than the worker
// would have waited itself (connect_timeout).
constexpr unsigned kPort20MaxWait = 60;
Result<UniqueFd> port20_connect(sockaddr_storage local, uint16_t port,
                                const sockaddr_storage& target, unsigned timeout_s);

}  // namespace moat
