// SPDX-License-Identifier: GPL-2.0-or-later
// The process that alone talks to Redis for mod_iplimit (iplimit_backend=redis).
#pragma once

#include "modules/mod_iplimit/redis_link.hpp"

// Runs in the forked child: drops to s.uid, serves the master on `fd` until it closes,
// then exits. Built without hiredis, it says so once and exits.
[[noreturn]] void redis_child_main(const RedisSettings& s, int fd);
// False when moatftpd was configured --without-hiredis.
bool redis_backend_built();
