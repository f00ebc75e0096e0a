// SPDX-License-Identifier: GPL-2.0-or-later
// tcp_wrappers (hosts.allow, hosts.deny): the verdict on a client address, reached
// in a child that is neither root nor holding anything of the session.
#pragma once

#include <sys/socket.h>

#include <chrono>

#include "core/config.hpp"

namespace moat {

// How long the name lookups and the rules may take before the client is refused.
constexpr std::chrono::milliseconds kWrappersTimeout{30000};

// Loads libwrap (once; for tcp_wrappers=YES, before any session is forked).
Status wrappers_load();

// With tcp_wrappers=YES: whether hosts_access admits peer. The reverse and forward
// DNS lookups parse answers an attacker may control, so they run in a forked child
// as nopriv_user with no_new_privs and no core dumps (it may start processes, for a
// rule's spawn option); its one-byte verdict comes back over a pipe. A child that
// fails, dies or takes longer than kWrappersTimeout (then killed) refuses the client.
bool wrappers_allow(const Config& cfg, const sockaddr_storage& peer);

}  // namespace moat
