// SPDX-License-Identifier: GPL-2.0-or-later
// Start-up self-test of the workers' seccomp policies (doc/DESIGN.md §6): a probe process
// loads each policy with violations trapped instead of fatal and does what workers do,
// so a call missing from an allow-list (after a glibc or libevent upgrade) stops the
// server at start, by name, instead of killing every session later.
#pragma once

#include <span>
#include <vector>

#include "core/common/config.hpp"
#include "core/common/util.hpp"
#include "privsep/sandbox.hpp"

namespace moat {

// Every policy a worker can be given (pre-auth, post-auth read-only and read-write), and
// the key holder's.
std::vector<SeccompPolicy> seccomp_worker_policies();

// Runs the probe under each policy, one child process each. The error names the policy
// and the first system call it did not allow, e.g. "seccomp self-test: the pre-auth
// policy does not allow system call 217 (getdents64); set seccomp_sandbox=NO ...".
Status seccomp_self_test(std::span<const SeccompPolicy> policies);

// At start-up, on SIGHUP and for -t: every worker policy, when seccomp_sandbox=YES.
Status seccomp_check(const Config& cfg);

}  // namespace moat
