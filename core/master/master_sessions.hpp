// SPDX-License-Identifier: GPL-2.0-or-later
// The master's record of live sessions for the modules' master hooks: each session
// helper's pid, its connection as modules see it, and the link on which the helper
// reports failed logins. session_closed runs when the helper is reaped, however the
// session ended (quit, crash, SIGKILL).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>

#include "core/host/modules.hpp"
#include "core/common/util.hpp"

namespace moat {

// A connection as the master and modules see it: `view` (IPv4-mapped IPv6 addresses
// shown as IPv4) points at this object's own text. It allocates nothing: one is made
// on the stack for the admit hooks, then copied into the session table.
struct ConnInfo {
  ConnInfo(int fd, const sockaddr_storage& peer);
  ConnInfo(const ConnInfo& other);
  ConnInfo& operator=(const ConnInfo&) = delete;

  moat_conn view{};
  char peer_text[INET6_ADDRSTRLEN]{};
};

class SessionTable {
 public:
  SessionTable(event_base* base, ModuleRegistry& modules);
  ~SessionTable();
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // A forked helper; `link` is the master's end of its link.
  void add(pid_t helper, const ConnInfo& conn, UniqueFd link);
  // A reaped child: for a session helper, what its link still holds is read, then
  // the modules hear session_closed. Other pids are ignored.
  void reaped(pid_t pid);
  std::size_t size() const { return sessions_.size(); }
  // Where the table keeps its entries (tests).
  const void* entry_address(pid_t helper) const;
  // Each live session's helper pid and connection (the control socket's --who).
  void for_each(const std::function<void(pid_t, const ConnInfo&)>& fn) const;
  bool contains(pid_t helper) const { return sessions_.count(helper) != 0; }

 private:
  struct EventFree {
    void operator()(event* e) const { event_free(e); }
  };
  // In the map's node, which never moves: its link event points at it.
  struct Entry {
    Entry(SessionTable* t, const ConnInfo& c, UniqueFd l) : table(t), conn(c), link(std::move(l)) {}
    SessionTable* table;
    ConnInfo conn;
    UniqueFd link;
    std::unique_ptr<event, EventFree> link_ev;
    unsigned messages = 0;
  };
  void on_link(Entry& e);
  void close_link(Entry& e);

  event_base* base_;
  ModuleRegistry& modules_;
  // In master_memory(): adding a session writes no page the sessions share.
  std::pmr::map<pid_t, Entry> sessions_;
};

}  // namespace moat
