// SPDX-License-Identifier: GPL-2.0-or-later
// The master process: listens, forks one session helper per connection, reaps,
// reloads on SIGHUP and stops accepting on SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "core/common/config.hpp"

namespace moat {

// Runs until SIGTERM; returns the process exit status.
int master_run(const std::string& config_file, const std::vector<std::string>& overrides,
               Config cfg);

}  // namespace moat
