// SPDX-License-Identifier: GPL-2.0-or-later
// The per-session root helper: never parses FTP; spawns the pre-login worker,
// authenticates LOGIN requests, spawns the post-login worker with the user's
// identity, and serves the few privileged requests its state table permits.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/server.hpp"
#include "core/util.hpp"
#include "core/worker.hpp"
#include "privsep/sandbox.hpp"

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

// implicit_tls: the client came to an implicit FTPS listener (TLS before the greeting).
[[noreturn]] void helper_run(std::shared_ptr<const ServerContext> ctx, UniqueFd client,
                             const sockaddr_storage& peer, bool implicit_tls = false);

// helper_run with another way of starting workers (tests/unit/helper_test.cpp).
[[noreturn]] void helper_run_with_launcher(std::shared_ptr<const ServerContext> ctx,
                                           UniqueFd client, const sockaddr_storage& peer,
                                           WorkerLauncher launcher, bool implicit_tls = false);

}  // namespace moat
