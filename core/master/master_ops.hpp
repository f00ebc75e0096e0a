// SPDX-License-Identifier: GPL-2.0-or-later
// What the master offers operators beside FTP: its title, pid file and control socket.
// Kept apart from the accept path; a reload does not change them (restart to move them).
#pragma once

#include <event2/event.h>

#include <memory>

#include "core/common/config.hpp"
#include "core/master/control_socket.hpp"
#include "core/master/master_sessions.hpp"
#include "core/master/pid_file.hpp"

namespace moat {

struct MasterOps {
  PidFile pid_file;
  std::unique_ptr<ControlSocket> control;

  // Before listening: a master already holding pid_file stops this one here.
  static Result<MasterOps> claim(const Config& cfg);
  // Listening and detached: the title, the pid, and the control socket on `base`.
  Status start(const Config& cfg, event_base* base, const SessionTable& sessions,
               ModuleRegistry& modules);
};

}  // namespace moat
