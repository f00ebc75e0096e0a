// SPDX-License-Identifier: GPL-2.0-or-later
// The master's PROXY protocol gate: a connection from a trusted balancer
// (proxy_protocol_from) waits here, without a session slot or a process, until its
// header has arrived; then the client address it carries goes on to admission.
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <functional>
#include <memory>
#include <memory_resource>
#include <string>
#include <unordered_map>

#include "core/common/address_list.hpp"
#include "core/master/master_memory.hpp"
#include "core/common/util.hpp"

namespace moat {

class ProxyGate {
 public:
  using Handler =
      std::function<void(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls)>;
  ProxyGate(event_base* base, Handler admit);
  ~ProxyGate();
  ProxyGate(const ProxyGate&) = delete;
  ProxyGate& operator=(const ProxyGate&) = delete;

  // A connection from a `trusted` source must start with a PROXY header; any other
  // goes straight on (the pre-login worker refuses a header it sends).
  void take(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls,
            const AddressList& trusted);

 private:
  struct Pending;
  void on_event(Pending& p, short what);
  void read_header(Pending& p);
  void wait_more(Pending& p);
  void drop(Pending& p, const std::string& why);

  event_base* base_;
  Handler admit_;
  // In master_memory(), as the session table: every proxied client passes through.
  std::pmr::unordered_map<Pending*, MasterMemoryPtr<Pending>> pending_;
};

}  // namespace moat
