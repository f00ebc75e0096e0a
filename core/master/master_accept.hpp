// SPDX-License-Identifier: GPL-2.0-or-later
// Accepting connections in the master, and refusing them cleanly when the process is
// out of resources: a 421 through a spare descriptor when none is left, and a pause
// rather than a loop of accept errors when even that fails.
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

struct ListenSocket {
  UniqueFd fd;
  bool implicit_tls = false;  // implicit FTPS: the client speaks TLS from its first byte
};

// The one line a refused client hears (nothing for an implicit FTPS client, which
// expects a TLS handshake); refuse_busy's is "421 Service not available.".
void refuse_client(int fd, bool implicit_tls, const std::string& reply);
void refuse_busy(int fd, bool implicit_tls);

// Logs the start of a run of refusals once, and how many there were when it ends, so
// a client flood against an exhausted server cannot flood the log.
class RefusalLog {
 public:
  void refused(const std::string& why);
  void admitted();

 private:
  unsigned count_ = 0;
};

class Acceptor {
 public:
  using Handler =
      std::function<void(UniqueFd client, const sockaddr_storage& peer, bool implicit_tls)>;
  Acceptor(event_base* base, std::vector<ListenSocket> listeners, Handler on_client,
           RefusalLog& log);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // SIGTERM: the listening sockets close; nothing more is accepted.
  void close();

 private:
  struct Slot;
  void on_readable(Slot& s);
  bool refuse_with_spare(Slot& s, int why);
  void pause();
  void resume();

  event_base* base_;
  Handler on_client_;
  RefusalLog& log_;
  std::vector<std::unique_ptr<Slot>> slots_;
  UniqueFd spare_;  // released to accept one client when the descriptors run out
  std::unique_ptr<event, void (*)(event*)> resume_timer_;
};

}  // namespace moat
