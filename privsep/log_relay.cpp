// SPDX-License-Identifier: GPL-2.0-or-later
// The helper's session log: vsftpd-format lines (file or syslog), xferlog and JSON
// lines, from what the helper knows itself (connect, logins) and from the workers'
// LogRequests.
#include "privsep/log_relay.hpp"

#include <sys/random.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>

#include "core/common/sockaddr.hpp"
#include "core/common/xferlog.hpp"

namespace moat {
namespace {

void append(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

// 16 hex digits; pid and time stand in if the kernel has no entropy to give yet.
std::string new_session_id() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
    v = (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(time(nullptr));
  std::array<char, 17> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx", static_cast<unsigned long long>(v));
  return buf.data();
}

const char* result(bool ok) { return ok ? "ok" : "fail"; }

struct FileOp {
  const char* vsftpd;  // vsftpd's name for it in the log
  const char* json;
};

FileOp file_op(LogKind kind) {
  switch (kind) {
    case LogKind::kMkdir:
      return {"MKDIR", "mkdir"};
    case LogKind::kRmdir:
      return {"RMDIR", "rmdir"};
    case LogKind::kDelete:
      return {"DELETE", "delete"};
    case LogKind::kRename:
      return {"RENAME", "rename"};
    default:
      return {"CHMOD", "chmod"};
  }
}

}  // namespace

SessionLog::SessionLog(const ServerContext& ctx, const sockaddr_storage& peer)
    : ctx_(ctx), peer_(sockaddr_host_text(peer)), session_id_(new_session_id()) {
  logged_out();
}

void SessionLog::logged_out() {
  who_ = LogIdentity{};
  who_.use_localtime = ctx_.cfg.use_localtime;
}

std::string SessionLog::client() const { return "Client \"" + peer_ + "\""; }

// The fields every JSON line has; the pid is the helper's, as in the vsftpd lines.
JsonLine SessionLog::json(std::string_view event, std::string_view user) const {
  JsonLine j;
  j.str("time", json_time_now()).str("event", event).str("client", peer_);
  if (!user.empty()) j.str("user", user);
  j.num("pid", static_cast<uint64_t>(getpid())).str("session", session_id_);
  return j;
}

// The pid is the helper's, the session's one process that lives as long as the
// session. vsftpd's syslog priorities: warning for a failed login, info for the rest.
void SessionLog::emit(std::string_view user, const std::string& text, const JsonLine& fields,
                      bool severe) {
  append(ctx_.json_log_fd, fields.line());
  if (!ctx_.vsftpd_log_enabled()) return;
  append(ctx_.vsftpd_log_fd,
         vsftpd_log_line(time(nullptr), getpid(), user, text, who_.use_localtime));
  if (!ctx_.syslog) return;
  // Again each time: a PAM module may have called openlog with its own name.
  openlog("moatftpd", LOG_PID | LOG_NDELAY, LOG_FTP);
  syslog(LOG_FTP | (severe ? LOG_WARNING : LOG_INFO), "%s",
         vsftpd_syslog_text(getpid(), user, text).c_str());
}

void SessionLog::event(std::string_view user, const std::string& text) {
  emit(user, text, json("note", user).str("text", text));
}

void SessionLog::connected() { emit("", "CONNECT: " + client(), json("connect", "")); }

void SessionLog::login_failed(std::string_view user, std::string_view why) {
  JsonLine j = json("login", user);
  j.str("result", "fail");
  if (!why.empty()) j.str("reason", why);
  emit(user, "FAIL LOGIN: " + client(), j, true);
}

void SessionLog::refused(std::string_view reply) {
  event("", "REFUSED CONNECT: " + client() + ", \"" + log_field(reply) + "\"");
}

void SessionLog::logged_in(LogIdentity who) {
  who_ = std::move(who);
  JsonLine j = json("login", who_.user);
  j.str("result", "ok").boolean("anonymous", who_.anonymous);
  if (who_.anonymous) j.str("anon_password", who_.anon_password);
  emit(who_.user,
       "OK LOGIN: " + client() +
           (who_.anonymous ? ", anon password \"" + log_field(who_.anon_password) + "\"" : ""),
       j);
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
  r.guest = who_.guest;
  r.user = who_.anonymous ? who_.anon_password : who_.user;
  r.complete = req.complete;
  append(ctx_.xferlog_fd, xferlog_line(r, who_.use_localtime));
  JsonLine j = json(req.upload ? "upload" : "download", who_.user);
  j.str("path", req.text).num("bytes", req.bytes).num("millis", req.millis);
  j.str("type", req.ascii ? "ascii" : "binary").str("result", result(req.complete));
  emit(who_.user, vsftpd_transfer_event(r), j);
}

// vsftpd's lines: `OK MKDIR: Client "1.2.3.4", "/dir"`, a rename's two paths and a
// chmod's path and mode inside the same quotes, separated by a space.
void SessionLog::file_change(const LogRequest& req) {
  const FileOp op = file_op(req.kind);
  JsonLine j = json(op.json, who_.user);
  j.str("path", req.text);
  if (req.kind == LogKind::kRename && !req.detail.empty()) j.str("to", req.detail);
  if (req.kind == LogKind::kChmod) j.str("mode", req.detail);
  j.str("result", result(req.complete));
  const std::string what = req.detail.empty() ? req.text : req.text + " " + req.detail;
  emit(who_.user,
       std::string(req.complete ? "OK " : "FAIL ") + op.vsftpd + ": " + client() + ", \"" +
           log_field(what) + "\"",
       j);
}

// Refused before PAM (under the name given) or a command refused by policy.
void SessionLog::refusal(const LogRequest& req) {
  const std::string why = ", \"" + log_field(req.detail) + "\"";
  if (req.kind == LogKind::kLoginRefused) {
    // Only before login, where the name is what the client itself sent with USER: a
    // post-login worker must not put another user's name on a failed login.
    if (!who_.user.empty()) return;
    JsonLine j = json("login", req.text);
    j.str("result", "fail").str("reason", req.detail);
    return emit(req.text, "FAIL LOGIN: " + client() + why, j, true);
  }
  JsonLine j = json("denied", who_.user);
  j.str("command", req.text).str("reason", req.detail).str("result", "fail");
  emit(who_.user, "FAIL COMMAND: " + client() + ", \"" + log_field(req.text) + "\"" + why, j);
}

void SessionLog::write(const LogRequest& req) {
  const std::string text = "\"" + log_field(req.text) + "\"";
  const std::string& named = who_.user.empty() ? req.detail : who_.user;
  switch (req.kind) {
    case LogKind::kFtpCommand:
      return emit(named, "FTP command: " + client() + ", " + text,
                  json("command", named).str("command", req.text));
    case LogKind::kFtpResponse:
      return emit(named, "FTP response: " + client() + ", " + text,
                  json("response", named).str("text", req.text));
    case LogKind::kTlsFailed:
      return emit(who_.user, "FAIL TLS: " + client() + ", " + log_field(req.text),
                  json("tls", who_.user).str("result", "fail").str("reason", req.text));
    case LogKind::kNote:
      return event(who_.user, log_field(req.text));
    case LogKind::kTransfer:
      if (req.text.empty() || req.text[0] != '/') return;  // a path as the server sees it
      return transfer(req);
    case LogKind::kMkdir:
    case LogKind::kRmdir:
    case LogKind::kDelete:
    case LogKind::kRename:
    case LogKind::kChmod:
      if (req.text.empty() || req.text[0] != '/') return;
      return file_change(req);
    case LogKind::kLoginRefused:
    case LogKind::kDenied:
      return refusal(req);
  }
}

}  // namespace moat
