// SPDX-License-Identifier: GPL-2.0-or-later
// The Redis child's sandbox: an empty root, nopriv_user, no_new_privs and a seccomp
// allow-list of what talking to Redis over TCP and to the master needs.
#pragma once

#include <optional>
#include <string>

#include "modules/mod_iplimit/redis_link.hpp"

// Called as root, after the child has closed every descriptor but its link and stdio.
// An error text when a step failed: the child must then exit (it fails closed).
std::optional<std::string> redis_sandbox_enter(const RedisSettings& s);
