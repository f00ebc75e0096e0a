// SPDX-License-Identifier: GPL-2.0-or-later
// How the helper ends its children: it never waits on one without a limit, so a
// worker or relay that does not exit cannot hold the session (its PAM session, its
// mod_iplimit slot) open.
#pragma once

#include <sys/types.h>

#include <chrono>

namespace moat {

// How long a session's process may take to exit on its own once its part is over (a
// relay sending close_notify, a pre-login worker after its hand-over).
constexpr std::chrono::milliseconds kExitGrace{5000};

// Waits up to `grace` for child pid to exit, then kills it (SIGKILL); reaps it either
// way. Returns its wait status, or -1 when it could not be waited for.
int reap_within(pid_t pid, std::chrono::milliseconds grace);

}  // namespace moat
