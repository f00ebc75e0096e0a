// SPDX-License-Identifier: GPL-2.0-or-later
// Confinement of a worker: credentials, chroot, rlimits, no_new_privs, seccomp.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string chroot_dir;  // empty: no chroot
  std::string start_dir;   // directory to chdir to after the identity change ("/" if empty)
};

// kRelay: the pre-login worker once it relays a TLS control connection (stacked on
// its kPreauth filter by seccomp_enter_relay). kKeyHolder: the session's key holder
// (privsep/key_holder.hpp), which only answers signing requests on its socket.
// kWrappers and kResolver: tcp_wrappers' judge and its name resolver
// (privsep/wrappers.hpp).
enum class SeccompProfile { kPreauth, kPostauth, kRelay, kKeyHolder, kWrappers, kResolver };

struct SeccompPolicy {
  SeccompProfile profile = SeccompProfile::kPreauth;
  bool write_enable = false;  // post-auth: allow file-system writes
  // post-auth, connect_from_port_20: active data connections come connected from the
  // helper, so no connect()
  bool port20_from_helper = false;
  int omit_syscall = -1;      // tests only: leave this system call out of the allow-list
};

// In this order: chroot + chdir("/"), setgroups/setgid/setuid (verified with
// getres*id), chdir(start_dir), rlimits (NPROC 0, CORE 0, NOFILE bounded),
// PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0, then the seccomp filter when use_seccomp.
// Refuses uid 0. Any failure is returned; the caller ends the session.
Status sandbox_enter(const Identity& id, bool use_seccomp, const SeccompPolicy& policy);

// Less than a worker's confinement, for a child that must read /etc (tcp_wrappers'
// judge and resolver, which then load their own filter): the identity change
// (verified), chdir("/"), no core dumps, no_new_privs, not dumpable. No chroot.
Status sandbox_drop_privileges(const Identity& id);

// Builds the production filters once (the master, before any fork), so that workers
// only copy one, write their pid in and load it; without it they build their own.
Status seccomp_precompile();

// In a sandboxed pre-login worker that becomes the TLS relay: adds the relay's
// narrower filter (precompiled by the master) to the one it has.
Status seccomp_enter_relay();

// The BPF program a worker of this policy loads (its pid not filled in), for tests.
Result<std::vector<sock_filter>> seccomp_program(const SeccompPolicy& policy);

// Loads the allow-list filter only (default action: kill the process).
Status seccomp_install(const SeccompPolicy& policy);

// The same filter, but a call outside it raises SIGSYS (SCMP_ACT_TRAP) for the
// caller's handler to report: only for the start-up self-test's probe process.
Status seccomp_install_trapping(const SeccompPolicy& policy);

// Closes every descriptor >= 3 not listed in keep.
void close_fds_except(const std::vector<int>& keep);

}  // namespace moat
