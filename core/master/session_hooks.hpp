// SPDX-License-Identifier: GPL-2.0-or-later
// What the master hands a session's helper (privsep/helper.hpp): how to start a
// worker that speaks FTP, and the module and TLS services the helper serves. The
// helper reaches the layers above it only through these.
#pragma once

#include <memory>

#include "core/common/server.hpp"
#include "privsep/helper.hpp"

namespace moat {

HelperHooks session_helper_hooks(std::shared_ptr<const ServerContext> ctx);

// The production launcher: a child that confines itself, then speaks FTP.
Result<pid_t> fork_sandboxed_worker(WorkerLaunch&& w);

}  // namespace moat
