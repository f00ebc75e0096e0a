// SPDX-License-Identifier: GPL-2.0-or-later
// Entry point of a worker process: speaks FTP on the control connection, before
// login (pre-auth, as nopriv_user) or after it (as the user), inside its sandbox.
#pragma once

#include "privsep/worker_start.hpp"

namespace moat {

// Runs the FTP session until it ends; never returns.
[[noreturn]] void worker_main(const WorkerStart& start);

}  // namespace moat
