// SPDX-License-Identifier: GPL-2.0-or-later
// moatftpd -t beyond the parser: what start-up and logins will need from the system
// (addresses, directories, users, certificate and key, per-user files), checked without
// starting anything, every problem reported with the line that caused it.
#pragma once

#include <string>
#include <vector>

#include "core/common/config.hpp"

namespace moat {

// Each problem as "file:line: message" (the line that set the option), or
// "file: NAME=VALUE (default): message" for an option left at its default.
std::vector<std::string> config_check(const Config& cfg);

}  // namespace moat
