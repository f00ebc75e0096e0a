// SPDX-License-Identifier: GPL-2.0-or-later
// The helper's session log: vsftpd-format lines, syslog and xferlog, from what the
// helper knows itself (connect, logins) and from the workers' LogRequests.
#include "privsep/log_relay.hpp"

#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <ctime>

#include "core/sockaddr.hpp"
#include "core/xferlog.hpp"

namespace moat {
namespace {

void append(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

}  // namespace

SessionLog::SessionLog(const ServerContext& ctx, const sockaddr_storage& peer)
    : ctx_(ctx), peer_(sockaddr_host_text(peer)) {
  logged_out();
}

void SessionLog::logged_out() {
  who_ = LogIdentity{};
  who_.use_localtime = ctx_.cfg.use_localtime;
}

std::string SessionLog::client() const { return "Client \"" + peer_ + "\""; }

// vsftpd's format on vsftpd_log_file, or the event part on syslog; the pid is the
// helper's, the session's one process that lives as long as the session.
void SessionLog::event(std::string_view user, const std::string& text) {
  if (!ctx_.vsftpd_log_enabled()) return;
  append(ctx_.vsftpd_log_fd, vsftpd_log_line(time(nullptr), getpid(), user, text, who_.use_localtime));
  if (ctx_.syslog_fd < 0) return;
  std::string msg = "<" + std::to_string(LOG_FTP | LOG_INFO) + ">moatftpd[" +
                    std::to_string(getpid()) + "]: " + text;  // its fields are escaped
  ssize_t ignored = ::send(ctx_.syslog_fd, msg.data(), msg.size(), MSG_NOSIGNAL);
  (void)ignored;
}

void SessionLog::connected() { event("", "CONNECT: " + client()); }

void SessionLog::login_failed(std::string_view user) {
  event(user, "FAIL LOGIN: " + client());
}

void SessionLog::logged_in(LogIdentity who) {
  who_ = std::move(who);
  event(who_.user, "OK LOGIN: " + client() +
                       (who_.anonymous ? ", anon password \"" + log_field(who_.anon_password) + "\""
                                       : ""));
}

void SessionLog::transfer(const LogRequest& req) {
  TransferRecord r;
  r.end_time = time(nullptr);
  r.seconds = req.millis / 1000.0;
  r.remote_host = peer_;
  r.bytes = req.bytes;
  r.path = req.text;
  r.ascii = req.ascii;
  r.upload = req.upload;
  r.anonymous = who_.anonymous;
  r.user = who_.anonymous ? who_.anon_password : who_.user;
  r.complete = req.complete;
  append(ctx_.xferlog_fd, xferlog_line(r, who_.use_localtime));
  if (!ctx_.vsftpd_log_enabled()) return;
  std::string line = vsftpd_transfer_line(r, getpid(), who_.user, who_.use_localtime);
  if (ctx_.vsftpd_log_fd >= 0) return append(ctx_.vsftpd_log_fd, line);
  line.pop_back();  // syslog: the event part only
  const auto pos = line.find("] ", line.find("[pid"));
  if (pos != std::string::npos) event("", line.substr(pos + 2));
}

void SessionLog::write(const LogRequest& req) {
  const std::string text = "\"" + log_field(req.text) + "\"";
  switch (req.kind) {
    case LogKind::kFtpCommand: return event(who_.user, "FTP command: " + client() + ", " + text);
    case LogKind::kFtpResponse: return event(who_.user, "FTP response: " + client() + ", " + text);
    case LogKind::kTlsFailed: return event(who_.user, "FAIL TLS: " + client() + ", " + log_field(req.text));
    case LogKind::kNote: return event(who_.user, log_field(req.text));
    case LogKind::kTransfer:
      if (req.text.empty() || req.text[0] != '/') return;  // a path as the server sees it
      return transfer(req);
  }
}

}  // namespace moat
