// SPDX-License-Identifier: GPL-2.0-or-later
// The per-session root helper: never parses FTP; spawns the pre-login worker,
// authenticates LOGIN requests, spawns the post-login worker with the user's
// identity, and serves the few privileged requests its state table permits.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/common/server.hpp"
#include "core/common/util.hpp"
#include "privsep/ipc.hpp"
#include "privsep/sandbox.hpp"
#include "privsep/worker_start.hpp"

namespace moat {

// Everything a worker is started with: its ends of the control connection and of the
// helper's IPC socket, what it is told (control_fd/helper_fd not yet filled in), who
// it must become, its stderr (a pipe the helper reads, privsep/worker_stderr.hpp) and
// the other descriptors it may keep (log lines go to the helper, privsep/log_relay.hpp).
struct WorkerLaunch {
  UniqueFd control;
  UniqueFd ipc;
  UniqueFd err;
  WorkerStart start;
  Identity identity;
  SeccompPolicy policy;
  std::vector<int> keep_fds;
};

// Starts a worker; returns its pid, or 0 when there is no process for the helper to
// reap. The helper's default forks a sandboxed worker; the state-table tests pass one
// that takes the worker's side of the IPC socket instead.
using WorkerLauncher = std::function<Result<pid_t>(WorkerLaunch&&)>;

// Who a module's request comes from (login_rights, priv_handler), and the session's
// options (ftpd.conf with the user's user_config_dir file) its module reads.
struct PrivCaller {
  const Config& cfg;
  const sockaddr_storage& peer;
  const sockaddr_storage& local;
  const std::string& user;
  bool anonymous;
  uid_t uid;  // what the session's worker runs as
};

// What the helper needs from the layers above it, handed in by whoever starts it
// (core/master/session_hooks.hpp): it never calls into them otherwise, so the FTP parser
// and the session are not on any of its code paths.
struct HelperHooks {
  WorkerLauncher launch;
  std::function<Status()> session_start;  // once, before the first worker
  // A login with anonymous rights: the writes the modules grant (login_rights), from
  // the session's options; an error refuses the login.
  std::function<Result<AnonRights>(const PrivCaller&)> anon_rights;
  // A module's own request: true when its priv_handler grants it.
  std::function<bool(const ModulePrivRequest&, const PrivCaller&, int fd)> module_priv;
};

// What a client hears when its session cannot start (refused by tcp_wrappers, or no
// process left for its worker); nothing when it expects an implicit-FTPS handshake.
void refuse_client(int control, bool implicit_tls);

// implicit_tls: the client came to an implicit FTPS listener (TLS before the greeting).
[[noreturn]] void helper_run(std::shared_ptr<const ServerContext> ctx, UniqueFd client,
                             const sockaddr_storage& peer, HelperHooks hooks,
                             bool implicit_tls = false);

}  // namespace moat
