// SPDX-License-Identifier: GPL-2.0-or-later
// The master's record of live sessions for the modules' master hooks: each session
// helper's pid, its connection as modules see it, and the link on which the helper
// reports failed logins. session_closed runs when the helper is reaped, however the
// session ended (quit, crash, SIGKILL).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/host/modules.hpp"
#include "core/common/util.hpp"

namespace moat {

// A connection as the master and modules see it; `view` points into this object, so
// it lives on the heap and never moves.
struct ConnInfo {
  sockaddr_storage peer{};  // IPv4-mapped IPv6 addresses shown as IPv4
  sockaddr_storage local{};
  std::string peer_text;
  moat_conn view{};

  static std::unique_ptr<ConnInfo> make(int fd, const sockaddr_storage& peer);
};

class SessionTable {
 public:
  SessionTable(event_base* base, ModuleRegistry& modules);
  ~SessionTable();
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // A forked helper; `link` is the master's end of its link.
  void add(pid_t helper, std::unique_ptr<ConnInfo> conn, UniqueFd link);
  // A reaped child: for a session helper, what its link still holds is read, then
  // the modules hear session_closed. Other pids are ignored.
  void reaped(pid_t pid);
  std::size_t size() const { return sessions_.size(); }
  // Each live session's helper pid and connection (the control socket's --who).
  void for_each(const std::function<void(pid_t, const ConnInfo&)>& fn) const;
  bool contains(pid_t helper) const { return sessions_.count(helper) != 0; }

 private:
  struct Entry;
  void on_link(Entry& e);
  void close_link(Entry& e);

  event_base* base_;
  ModuleRegistry& modules_;
  std::map<pid_t, std::unique_ptr<Entry>> sessions_;
};

}  // namespace moat
