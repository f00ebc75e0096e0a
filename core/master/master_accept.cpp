// SPDX-License-Identifier: GPL-2.0-or-later
// The master's accept loop. Out of descriptors, accept() fails while the client waits
// in the queue and the listener stays readable: a loop that only logs spins at full
// CPU. A spare descriptor makes room to take each waiting client off the queue with a
// 421; when even that fails, accepting rests for a second.
#include "core/master/master_accept.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/common/server_log.hpp"

namespace moat {
namespace {

constexpr char kBusyReply[] = "421 Service not available.";
constexpr timeval kRest{1, 0};
// Clients taken per wake-up: the loop returns now and then to reap and read signals.
constexpr int kAcceptBatch = 64;

UniqueFd open_spare() { return UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)); }

// Errors that belong to one connection (reset while queued, or a network error Linux
// passes on through accept): the next client may be fine.
bool connection_error(int err) {
  switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENETUNREACH:
    case ENONET:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENOPROTOOPT:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

}  // namespace

void refuse_client(int fd, bool implicit_tls, const std::string& reply) {
  if (implicit_tls) return;
  const std::string line = reply + "\r\n";
  ssize_t ignored = send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
}

void refuse_busy(int fd, bool implicit_tls) { refuse_client(fd, implicit_tls, kBusyReply); }

void RefusalLog::refused(const std::string& why) {
  if (count_++ == 0) server_log("refusing connections: " + why, true);
}

void RefusalLog::admitted() {
  if (count_ == 0) return;
  server_log("accepting connections again (" + std::to_string(count_) + " refused)");
  count_ = 0;
}

struct Acceptor::Slot {
  Acceptor* owner = nullptr;
  ListenSocket sock;
  std::unique_ptr<event, void (*)(event*)> ev{nullptr, event_free};
};

Acceptor::Acceptor(event_base* base, std::vector<ListenSocket> listeners, Handler on_client,
                   RefusalLog& log)
    : base_(base),
      on_client_(std::move(on_client)),
      log_(log),
      spare_(open_spare()),
      resume_timer_(nullptr, event_free) {
  auto readable = [](evutil_socket_t, short, void* arg) {
    auto* slot = static_cast<Slot*>(arg);
    slot->owner->on_readable(*slot);
  };
  for (ListenSocket& l : listeners) {
    auto s = std::make_unique<Slot>();
    s->owner = this;
    s->sock = std::move(l);
    s->ev.reset(event_new(base_, s->sock.fd.get(), EV_READ | EV_PERSIST, readable, s.get()));
    event_add(s->ev.get(), nullptr);
    slots_.push_back(std::move(s));
  }
  auto wake = [](evutil_socket_t, short, void* self) { static_cast<Acceptor*>(self)->resume(); };
  resume_timer_.reset(evtimer_new(base_, wake, this));
}

Acceptor::~Acceptor() = default;

void Acceptor::close() {
  slots_.clear();
  if (resume_timer_) evtimer_del(resume_timer_.get());
}

void Acceptor::on_readable(Slot& s) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(s.sock.fd.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd >= 0) {
      on_client_(UniqueFd(fd), peer, s.sock.implicit_tls);
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (connection_error(err)) continue;
    if ((err == EMFILE || err == ENFILE) && refuse_with_spare(s, err)) continue;
    log_.refused("accept: " + errno_text(err));
    return pause();
  }
}

// The spare descriptor makes room for one client: it hears why, and leaves the queue.
bool Acceptor::refuse_with_spare(Slot& s, int why) {
  if (!spare_) return false;
  spare_.reset();
  const bool took = [&] {
    UniqueFd client(accept4(s.sock.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) return false;
    log_.refused("accept: " + errno_text(why));
    refuse_busy(client.get(), s.sock.implicit_tls);
    return true;
  }();
  const int err = errno;
  spare_ = open_spare();
  return took || err == EAGAIN || err == EWOULDBLOCK || connection_error(err);
}

void Acceptor::pause() {
  for (auto& s : slots_) event_del(s->ev.get());
  evtimer_add(resume_timer_.get(), &kRest);
}

void Acceptor::resume() {
  if (!spare_) spare_ = open_spare();
  for (auto& s : slots_) event_add(s->ev.get(), nullptr);
}

}  // namespace moat
