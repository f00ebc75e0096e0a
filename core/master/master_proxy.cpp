// SPDX-License-Identifier: GPL-2.0-or-later
// Reading a PROXY header in the master. Only a trusted balancer's bytes are read, at
// most kProxyHeaderMax of them, into a fixed buffer, by the fuzzed parser in
// core/master/proxy_header.cpp; the socket is non-blocking and each read is one event of the
// loop, so a slow balancer delays no one else. Exactly the header is consumed (bytes
// are peeked first), so what follows, such as a TLS ClientHello, stays in the socket
// for the session.
#include "core/master/master_proxy.hpp"

#include <event2/util.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string_view>

#include "core/protocol/ftpcmd.hpp"
#include "core/master/proxy_header.hpp"
#include "core/common/server_log.hpp"

namespace moat {
namespace {

using Clock = std::chrono::steady_clock;
// The whole header must arrive within this, however it is split: a trickle of bytes
// does not extend it.
constexpr std::chrono::seconds kHeaderTimeout{5};
// Connections waiting for a header at once: only trusted balancers get here, and a
// balancer opens one per client, but a broken one must not exhaust the master.
constexpr size_t kMaxPending = 512;

}  // namespace

struct ProxyGate::Pending {
  ProxyGate* owner = nullptr;
  UniqueFd fd;
  sockaddr_storage peer{};
  bool implicit_tls = false;
  Clock::time_point deadline;
  std::array<char, kProxyHeaderMax> buf{};
  size_t have = 0;
  std::unique_ptr<event, void (*)(event*)> ev{nullptr, event_free};
};

ProxyGate::ProxyGate(event_base* base, Handler admit)
    : base_(base), admit_(std::move(admit)), pending_(master_memory()) {}

ProxyGate::~ProxyGate() = default;

void ProxyGate::take(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls,
                     const AddressList& trusted) {
  if (!trusted.contains(peer)) return admit_(std::move(client), peer, implicit_tls);
  if (pending_.size() >= kMaxPending) {
    std::fprintf(stderr, "moatftpd: PROXY: %zu connections wait for a header; closing one from %s\n",
                 pending_.size(), sockaddr_host_text(peer).c_str());
    return;
  }
  auto p = master_memory_new<Pending>();
  p->owner = this;
  p->fd = std::move(client);
  p->peer = peer;
  p->implicit_tls = implicit_tls;
  p->deadline = Clock::now() + kHeaderTimeout;
  evutil_make_socket_nonblocking(p->fd.get());
  auto cb = [](evutil_socket_t, short what, void* arg) {
    auto* pending = static_cast<Pending*>(arg);
    pending->owner->on_event(*pending, what);
  };
  Pending* raw = p.get();
  raw->ev.reset(event_new(base_, raw->fd.get(), EV_READ, cb, raw));
  pending_.emplace(raw, std::move(p));
  wait_more(*raw);
}

void ProxyGate::wait_more(Pending& p) {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(p.deadline - Clock::now());
  if (left.count() <= 0) return drop(p, "no complete PROXY header within 5 s");
  timeval tv{static_cast<time_t>(left.count() / 1000000),
             static_cast<suseconds_t>(left.count() % 1000000)};
  event_add(p.ev.get(), &tv);
}

void ProxyGate::on_event(Pending& p, short what) {
  if (what & EV_TIMEOUT) return drop(p, "no complete PROXY header within 5 s");
  read_header(p);
}

// Peeks what has arrived after the bytes already taken and consumes only header
// bytes: all of them while the header is incomplete, exactly its end once complete.
void ProxyGate::read_header(Pending& p) {
  const size_t room = p.buf.size() - p.have;
  const ssize_t n = recv(p.fd.get(), p.buf.data() + p.have, room, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return wait_more(p);
  if (n <= 0) return drop(p, n == 0 ? "closed before its PROXY header" : errno_text(errno));
  auto parsed = proxy_header_parse(std::string_view(p.buf.data(), p.have + n));
  if (!parsed) return drop(p, parsed.error());
  const size_t take = *parsed ? (*parsed)->length - p.have : static_cast<size_t>(n);
  if (recv(p.fd.get(), p.buf.data() + p.have, take, 0) != static_cast<ssize_t>(take))
    return drop(p, "PROXY header: short read");
  p.have += take;
  if (!*parsed) return wait_more(p);
  const ProxyHeader& h = **parsed;
  const sockaddr_storage client = h.local ? p.peer : h.source;
  const bool implicit_tls = p.implicit_tls;
  UniqueFd fd = std::move(p.fd);
  pending_.erase(&p);
  admit_(std::move(fd), client, implicit_tls);
}

void ProxyGate::drop(Pending& p, const std::string& why) {
  server_log("connection from " + sockaddr_host_text(p.peer) + " closed: " + why);
  pending_.erase(&p);
}

}  // namespace moat
