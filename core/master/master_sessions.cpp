// SPDX-License-Identifier: GPL-2.0-or-later
// Live sessions in the master: the connection each module hook is given, the helper
// links read with libevent, and the bookkeeping that keeps per-address counts right
// whatever way a session ends.
#include "core/master/master_sessions.hpp"

#include <cstdio>
#include <cstring>

#include "core/master/master_memory.hpp"
#include "core/protocol/ftpcmd.hpp"
#include "privsep/master_link.hpp"

namespace moat {
namespace {

// A helper sends one message per failed login, and max_login_fails ends a session long
// before this; more means something is wrong with it.
constexpr unsigned kMaxLinkMessages = 1024;

std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

ConnInfo::ConnInfo(int fd, const sockaddr_storage& peer) {
  view.peer = peer;
  sockaddr_unmap(view.peer);
  socklen_t len = sizeof view.local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&view.local), &len) != 0) view.local = {};
  sockaddr_unmap(view.local);
  sockaddr_host_text(view.peer, peer_text);
  view.peer_text = peer_text;
}

ConnInfo::ConnInfo(const ConnInfo& other) : view(other.view) {
  std::memcpy(peer_text, other.peer_text, sizeof peer_text);
  view.peer_text = peer_text;
}

SessionTable::SessionTable(event_base* base, ModuleRegistry& modules)
    : base_(base), modules_(modules), sessions_(master_memory()) {}

SessionTable::~SessionTable() = default;

void SessionTable::add(pid_t helper, const ConnInfo& conn, UniqueFd link) {
  auto [it, added] = sessions_.try_emplace(helper, this, conn, std::move(link));
  if (!added) return;  // a pid is not reused before it is reaped
  Entry& e = it->second;
  auto cb = [](evutil_socket_t, short, void* arg) {
    auto* entry = static_cast<Entry*>(arg);
    entry->table->on_link(*entry);
  };
  if (e.link) {
    e.link_ev.reset(event_new(base_, e.link.get(), EV_READ | EV_PERSIST, cb, &e));
    if (e.link_ev) event_add(e.link_ev.get(), nullptr);
  }
}

const void* SessionTable::entry_address(pid_t helper) const {
  auto it = sessions_.find(helper);
  return it == sessions_.end() ? nullptr : &it->second;
}

void SessionTable::close_link(Entry& e) {
  e.link_ev.reset();
  e.link.reset();
}

void SessionTable::on_link(Entry& e) {
  auto event = master_link_receive(e.link.get());
  if (!event || ++e.messages > kMaxLinkMessages) {
    std::fprintf(stderr, "moatftpd: session %s: master link: %s\n", e.conn.peer_text,
                 event ? "too many messages" : event.error().c_str());
    return close_link(e);
  }
  if (!event->has_value()) return close_link(e);  // the helper has exited
  modules_.login_failed(e.conn.view, printable((*event)->user));
}

void SessionTable::for_each(const std::function<void(pid_t, const ConnInfo&)>& fn) const {
  for (const auto& [pid, e] : sessions_) fn(pid, e.conn);
}

void SessionTable::reaped(pid_t pid) {
  auto it = sessions_.find(pid);
  if (it == sessions_.end()) return;
  Entry& e = it->second;
  // A helper may report a failed login and exit before the loop got to its link.
  while (e.link && master_link_readable(e.link.get())) on_link(e);
  modules_.session_closed(e.conn.view);
  sessions_.erase(it);
}

}  // namespace moat
