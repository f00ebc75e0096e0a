// SPDX-License-Identifier: GPL-2.0-or-later
// The master's operator-facing pieces, started in the order an init system expects:
// the pid file names a master that already listens.
#include "core/master/master_ops.hpp"

#include "core/common/proctitle.hpp"
#include "core/master/session_who.hpp"

namespace moat {

Result<MasterOps> MasterOps::claim(const Config& cfg) {
  auto pid = PidFile::claim(cfg.pid_file);
  if (!pid) return fail(pid.error());
  MasterOps ops;
  ops.pid_file = std::move(*pid);
  return ops;
}

Status MasterOps::start(const Config& cfg, event_base* base, const SessionTable& sessions,
                        ModuleRegistry& modules) {
  proctitle_set("moatftpd: listening");
  if (auto st = pid_file.write_pid(); !st) return st;
  auto answer = [&sessions, &modules](const std::string& request) {
    return control_answer(sessions, modules, request);
  };
  auto sock = ControlSocket::open(base, cfg.control_socket, answer);
  if (!sock) return fail(sock.error());
  control = std::move(*sock);
  return Ok{};
}

}  // namespace moat
