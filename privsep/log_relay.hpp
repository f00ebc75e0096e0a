// SPDX-License-Identifier: GPL-2.0-or-later
// Session log lines, written by the helper: workers hold no log descriptor and send
// LogRequests that say what happened (event kind, path, byte counts); the helper fills
// in the fields that name someone (the real client address, the logged-in user, the
// anonymous password) itself, so a worker cannot write a line about another user or
// client, and escapes every field that came from the client.
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/server.hpp"
#include "core/util.hpp"
#include "privsep/log_request.hpp"

namespace moat {

// Who the session is, as the helper decided at login.
struct LogIdentity {
  std::string user;  // the login name (anonymous: ftp_username)
  bool anonymous = false;
  std::string anon_password;
  bool use_localtime = false;
};

class SessionLog {
 public:
  SessionLog(const ServerContext& ctx, const sockaddr_storage& peer);

  void connected();                           // CONNECT
  void login_failed(std::string_view user);
  // The master turned the client away before forking (a module's admit: a ban,
  // max_clients, max_per_ip); `reply` is the line the client got.
  void refused(std::string_view reply);   // FAIL LOGIN, under the name the client gave
  void logged_in(LogIdentity who);            // OK LOGIN; later lines carry this user
  void logged_out();                          // REIN: no user again
  void write(const LogRequest& req);          // a worker's request, already decoded

 private:
  void event(std::string_view user, const std::string& text);
  void transfer(const LogRequest& req);
  std::string client() const;  // Client "a.b.c.d"

  const ServerContext& ctx_;
  std::string peer_;
  LogIdentity who_;
};

}  // namespace moat
