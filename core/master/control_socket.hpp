// SPDX-License-Identifier: GPL-2.0-or-later
// control_socket=: the master's root-only Unix socket for moatftpd --who and --kick.
// One request line per connection, one answer, then the master closes it.
#pragma once

#include <event2/event.h>

#include <functional>
#include <sys/types.h>
#include <vector>
#include <memory>
#include <string>

#include "core/common/util.hpp"

namespace moat {

class ControlSocket {
 public:
  // Answers a request line (without its newline).
  using Handler = std::function<std::string(const std::string& request)>;

  // Binds `path` (mode 0600; a leftover socket there is replaced) and serves it on
  // `base`. An empty path: no socket (nullptr).
  static Result<std::unique_ptr<ControlSocket>> open(event_base* base, const std::string& path,
                                                     Handler handler);
  ~ControlSocket();  // closes and removes the socket
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

 private:
  struct Client;
  ControlSocket(event_base* base, std::string path, UniqueFd fd, Handler handler);
  void on_accept();
  void on_client(Client& c, short what);

  event_base* base_;
  std::string path_;
  UniqueFd fd_;
  Handler handler_;
  struct EventFree {
    void operator()(event* e) const { event_free(e); }
  };
  std::unique_ptr<event, EventFree> ev_;
  std::vector<std::unique_ptr<Client>> clients_;
  pid_t owner_;
};

// The client side (moatftpd --who, --kick): sends `request`, copies the answer to
// stdout; returns the exit status (1 when the answer is an error or nothing came).
int control_request(const std::string& path, const std::string& request);

}  // namespace moat
