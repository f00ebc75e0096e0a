// SPDX-License-Identifier: GPL-2.0-or-later
// Live sessions in the master: the connection each module hook is given, the helper
// links read with libevent, and the bookkeeping that keeps per-address counts right
// whatever way a session ends.
#include "core/master/master_sessions.hpp"

#include <cstdio>

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

struct EventFree {
  void operator()(event* e) const { event_free(e); }
};

}  // namespace

struct SessionTable::Entry {
  SessionTable* table = nullptr;
  std::unique_ptr<ConnInfo> conn;
  UniqueFd link;
  std::unique_ptr<event, EventFree> link_ev;
  unsigned messages = 0;
};

std::unique_ptr<ConnInfo> ConnInfo::make(int fd, const sockaddr_storage& peer) {
  auto c = std::make_unique<ConnInfo>();
  c->peer = peer;
  sockaddr_unmap(c->peer);
  socklen_t len = sizeof c->local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&c->local), &len) != 0) c->local = {};
  sockaddr_unmap(c->local);
  c->peer_text = sockaddr_host_text(c->peer);
  c->view.peer = c->peer;
  c->view.local = c->local;
  c->view.peer_text = c->peer_text.c_str();
  return c;
}

SessionTable::SessionTable(event_base* base, ModuleRegistry& modules)
    : base_(base), modules_(modules) {}

SessionTable::~SessionTable() = default;

void SessionTable::add(pid_t helper, std::unique_ptr<ConnInfo> conn, UniqueFd link) {
  auto e = std::make_unique<Entry>();
  e->table = this;
  e->conn = std::move(conn);
  e->link = std::move(link);
  auto cb = [](evutil_socket_t, short, void* arg) {
    auto* entry = static_cast<Entry*>(arg);
    entry->table->on_link(*entry);
  };
  if (e->link) {
    e->link_ev.reset(event_new(base_, e->link.get(), EV_READ | EV_PERSIST, cb, e.get()));
    if (e->link_ev) event_add(e->link_ev.get(), nullptr);
  }
  sessions_[helper] = std::move(e);
}

void SessionTable::close_link(Entry& e) {
  e.link_ev.reset();
  e.link.reset();
}

void SessionTable::on_link(Entry& e) {
  auto event = master_link_receive(e.link.get());
  if (!event || ++e.messages > kMaxLinkMessages) {
    std::fprintf(stderr, "moatftpd: session %s: master link: %s\n", e.conn->peer_text.c_str(),
                 event ? "too many messages" : event.error().c_str());
    return close_link(e);
  }
  if (!event->has_value()) return close_link(e);  // the helper has exited
  modules_.login_failed(e.conn->view, printable((*event)->user));
}

void SessionTable::for_each(const std::function<void(pid_t, const ConnInfo&)>& fn) const {
  for (const auto& [pid, e] : sessions_) fn(pid, *e->conn);
}

void SessionTable::reaped(pid_t pid) {
  auto it = sessions_.find(pid);
  if (it == sessions_.end()) return;
  Entry& e = *it->second;
  // A helper may report a failed login and exit before the loop got to its link.
  while (e.link && master_link_readable(e.link.get())) on_link(e);
  modules_.session_closed(e.conn->view);
  sessions_.erase(it);
}

}  // namespace moat
