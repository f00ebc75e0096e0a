// SPDX-License-Identifier: GPL-2.0-or-later
// Session log lines, written by the helper: workers hold no log descriptor and send
// LogRequests that say what happened (event kind, path, byte counts); the helper fills
// in the fields that name someone (the real client address, the logged-in user, the
// anonymous password) itself, so a worker cannot write a line about another user or
// client, and escapes every field that came from the client. Each event goes to the
// vsftpd-format log (file or syslog(3)), the xferlog for transfers, and json_log_file.
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/common/json_line.hpp"
#include "core/common/server.hpp"
#include "core/common/util.hpp"
#include "privsep/log_request.hpp"

namespace moat {

// Who the session is, as the helper decided at login.
struct LogIdentity {
  std::string user;  // the login name (anonymous: ftp_username)
  bool anonymous = false;
  std::string anon_password;
  bool use_localtime = false;
  bool guest = false;  // guest_enable: xferlog's access mode is 'g', as in vsftpd
};

class SessionLog {
 public:
  SessionLog(const ServerContext& ctx, const sockaddr_storage& peer);

  void connected();  // CONNECT
  // FAIL LOGIN, under the name the client gave; why is for the JSON log only.
  void login_failed(std::string_view user, std::string_view why = {});
  // The master turned the client away before forking (a module's admit: a ban,
  // max_clients, max_per_ip); `reply` is the line the client got.
  void refused(std::string_view reply);
  void logged_in(LogIdentity who);    // OK LOGIN; later lines carry this user
  void logged_out();                  // REIN: no user again
  void write(const LogRequest& req);  // a worker's request, already decoded

 private:
  JsonLine json(std::string_view event, std::string_view user) const;
  // One event: `text` is the vsftpd-format event ("OK MKDIR: Client ..."), written
  // under [user] when the vsftpd log is on; `fields` is its JSON object.
  void emit(std::string_view user, const std::string& text, const JsonLine& fields,
            bool severe = false);
  void event(std::string_view user, const std::string& text);  // no JSON fields of its own
  void transfer(const LogRequest& req);
  void file_change(const LogRequest& req);
  void refusal(const LogRequest& req);
  std::string client() const;  // Client "a.b.c.d"

  const ServerContext& ctx_;
  std::string peer_;
  std::string session_id_;  // json_log_file: tells apart sessions whose pids were reused
  LogIdentity who_;
};

}  // namespace moat
