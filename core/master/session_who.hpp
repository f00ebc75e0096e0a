// SPDX-License-Identifier: GPL-2.0-or-later
// What the control socket answers: WHO (one line per session) and KICK PID.
#pragma once

#include <string>

#include "core/master/master_sessions.hpp"
#include "core/host/modules.hpp"

namespace moat {

// Answers one control request line: "WHO" or "KICK PID"; any other goes to the modules
// (mod_iplimit: "BANS", "UNBAN ADDR").
std::string control_answer(const SessionTable& sessions, ModuleRegistry& modules,
                           const std::string& request);

}  // namespace moat
