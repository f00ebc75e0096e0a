// SPDX-License-Identifier: GPL-2.0-or-later
// The worker's control connection: reads command lines, dispatches them through
// the command table, writes replies, and hands the connection to the helper at login.
#include "core/session/worker.hpp"

#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "core/session/session.hpp"
#include "core/session/tilde.hpp"
#include "core/tls/tls_remote_key.hpp"
#include "modules/moat_module.h"
#include "privsep/ipc.hpp"
#include "privsep/log_request.hpp"

namespace moat {

namespace {

std::string current_dir() {
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

// A session that ends with input still unread would be closed with a reset, and a reset
// can destroy replies the client has not read yet, the last one (why it ended)
// included. So: FIN first, then read and drop what still comes, for a second at most.
void linger_close(int fd) {
  constexpr int kLingerMs = 1000;
  shutdown(fd, SHUT_WR);
  timespec start{}, now{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  char sink[4096];
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = kLingerMs - ((now.tv_sec - start.tv_sec) * 1000 +
                             (now.tv_nsec - start.tv_nsec) / 1000000);
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) return;
    ssize_t n = read(fd, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
  }
}


constexpr size_t kMaxBufferedInput = 64 * 1024;
constexpr unsigned kMaxUnknownBeforeLogin = 10;

// Replies and log lines never carry the client's CR/LF through.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\r' || c == '\n' || c == '\0') c = '?';
  return out;
}

bool is_during_transfer_verb(const std::string& line) {
  auto cmd = command_parse(line);
  return cmd && (cmd->verb == "ABOR" || cmd->verb == "STAT" || cmd->verb == "NOOP");
}

// Without EVENT_* environment lookups: libevent checks for set-id before each one (four
// get*id calls), eight per session process for nothing, and a session's event
// backend is not the environment's to choose.
event_base* session_event_base() {
  event_config* conf = event_config_new();
  if (conf == nullptr) return nullptr;
  event_config_set_flag(conf, EVENT_BASE_FLAG_IGNORE_ENV);
  event_base* base = event_base_new_with_config(conf);
  event_config_free(conf);
  return base;
}

}  // namespace

Session::Session(const WorkerStart& start)
    : ctx(*start.ctx),
      cfg(start.session_cfg ? *start.session_cfg : start.ctx->cfg),
      st(start),
      base(session_event_base()),
      login_dir(start.logged_in ? current_dir() : std::string()) {}

void Session::write_all(std::string_view bytes) {
  if (ssl_) return tls_write_all(bytes);
  while (!bytes.empty()) {
    ssize_t n = send(st.control_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the client is gone; nothing to say to anyone
      xfer_.reset();  // an atomic upload's temporary file goes with it
      _exit(0);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void Session::reply_raw(std::string_view text) {
  if (text.size() >= 3) last_reply_code_ = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  if (cfg.log_ftp_protocol && ctx.session_log_enabled())
    log_request(
        {LogKind::kFtpResponse, std::string(text.substr(0, text.find('\r'))), named_user()});
  write_all(text);
  // The final reply of a transfer command (226, 426, 425...) completes it for modules.
  if (pending_post_ && !transferring() && last_reply_code_ >= 200) {
    auto [verb, arg] = std::move(*pending_post_);
    pending_post_.reset();
    modules_command_post(verb, arg);
  }
}

void Session::reply(int code, std::string_view text) {
  char head[8];
  std::snprintf(head, sizeof head, "%03d ", code);
  reply_raw(std::string(head) + one_line(text) + "\r\n");
}

void Session::end_session(int code, std::string_view text) {
  reply(code, text);
  if (!ssl_) linger_close(st.control_fd);
  end_silently();
}

void Session::end_silently() {
  xfer_.reset();
  tls_close();
  _exit(0);
}

// The helper writes every log line (privsep/log_relay.hpp): this process holds no log
// descriptor and says only what happened, never who or from where.
void Session::log_request(const LogRequest& req) {
  (void)ipc_send(st.helper_fd, req);  // a lost line never stops the session
}

// vsftpd logs a session's lines under the name USER gave until the login is decided;
// the helper takes it only before login (a worker after login cannot rename itself).
std::string Session::named_user() const { return user_given ? pending_user : std::string(); }

void Session::log_event(std::string_view text) {
  if (ctx.session_log_enabled()) log_request({LogKind::kNote, std::string(text)});
}

void Session::log_transfer(const TransferRecord& r) {
  if (!ctx.session_log_enabled()) return;
  LogRequest req{LogKind::kTransfer, r.path, "", r.upload, r.ascii, r.complete, r.bytes};
  req.millis = static_cast<uint32_t>(std::min(r.seconds, 4e6) * 1000);
  log_request(req);
}

void Session::log_change(LogKind kind, const std::string& path, bool ok, std::string detail) {
  if (!ctx.session_log_enabled()) return;
  LogRequest req{kind, absolute_path(path), std::move(detail)};
  req.complete = ok;
  log_request(req);
}

void Session::refuse(int code, std::string_view text, std::string_view why) {
  if (ctx.session_log_enabled())
    log_request({LogKind::kDenied, command_line_, std::string(why)});
  reply(code, text);
}

void Session::deny(std::string_view why) { refuse(550, "Permission denied.", why); }

void Session::refuse_login(const std::string& user, std::string_view why,
                           std::string_view text) {
  if (ctx.session_log_enabled()) log_request({LogKind::kLoginRefused, user, std::string(why)});
  reply(530, text);
}

std::string Session::absolute_path(const std::string& arg) const {
  if (!arg.empty() && arg[0] == '/') return arg;
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) return arg;
  std::string cwd = buf;
  return cwd == "/" ? "/" + arg : cwd + "/" + arg;
}

// ~user needs the helper's table, which a chrooted session never gets (worker.hpp).
std::string Session::expand_tilde(std::string_view verb, const std::string& arg) const {
  if (!st.logged_in || !tilde_verb(verb)) return arg;
  const UserDb* users = cfg.tilde_user_enable ? st.userdb.get() : nullptr;
  return tilde_expand(arg, login_dir, users);
}

void Session::handover() {
  Handover h;
  h.pending = inbuf_.substr(line_start_);
  if (h.pending.size() > kMaxPending) end_session(500, "Too much pipelined input.");
  tls_handover(h);  // with TLS here, this process becomes the relay and never returns
  int fd = st.control_fd;
  if (auto s = ipc_send(st.helper_fd, h, std::span(&fd, 1)); !s)
    end_session(421, "Service not available, closing control connection.");
  _exit(0);
}

void Session::try_login(const std::string& user, const std::string& pass) {
  if (!ipc_send(st.helper_fd, LoginRequest{user, pass}))
    end_session(421, "Service not available, closing control connection.");
  auto res = ipc_recv_expect<LoginResult>(st.helper_fd);  // the rest of ipc_call
  if (!res) end_silently();
  user_given = false;
  if (!res->body.ok) {
    reply(530, res->body.text);
    if (res->body.fatal) end_silently();
    return;
  }
  handover();  // the post-login worker says 230
}

// cmds_allowed and cmds_denied, after login only (as vsftpd): denial wins, and a verb
// outside a non-empty cmds_allowed is refused even if moatftpd does not know it.
bool Session::command_filtered(std::string_view verb) const {
  if (verb_listed(cfg.cmds_denied, verb)) return true;
  return !cfg.cmds_allowed.empty() && !verb_listed(cfg.cmds_allowed, verb);
}

void Session::dispatch(const std::string& line) {
  const bool is_pass = line.size() >= 4 && strncasecmp(line.c_str(), "PASS", 4) == 0;
  command_line_ = is_pass ? "PASS <password>" : line;
  if (cfg.log_ftp_protocol && ctx.session_log_enabled())
    log_request({LogKind::kFtpCommand, command_line_, named_user()});
  auto cmd = command_parse(line);
  if (cmd && st.logged_in && command_filtered(cmd->verb)) return deny("cmds_allowed/cmds_denied");
  const CommandSpec* spec = cmd ? command_find(cmd->verb) : nullptr;
  // Modules see a command first: after login every one, before login only the verbs
  // a module declared pre-auth. MOAT_REFUSE and MOAT_HANDLED mean it has replied.
  if (cmd && modules_command_pre(cmd->verb, cmd->arg) != MOAT_CONTINUE) return;
  // A PROXY header that reaches a worker came from a source not in
  // proxy_protocol_from (the master takes a trusted one off the socket): a client
  // trying to choose its own address is not served at all.
  if (!st.logged_in && cmd && cmd->verb == "PROXY") {
    end_session(421, "PROXY header refused.");
    return;
  }
  if (!st.logged_in && (!spec || !spec->preauth)) {
    if (!spec && ++preauth_unknown > kMaxUnknownBeforeLogin)
      end_session(421, "Too many unknown commands before login.");
    return reply(530, "Please login with USER and PASS.");
  }
  if (!cmd) return reply(500, "Syntax error, command unrecognized.");
  last_reply_code_ = 0;
  if (!spec) {
    reply(502, "Command not implemented.");
  } else if (spec->needs_arg && cmd->arg.empty()) {
    reply(501, "Syntax error in parameters or arguments.");
  } else if (const char* why = write_refusal(*this, *spec, cmd->arg)) {
    deny(why);
  } else {
    if (cmd->verb != "RNTO") rnfr.clear();
    bool was_transferring = transferring();  // ABOR, STAT, NOOP during a transfer
    spec->fn(*this, expand_tilde(cmd->verb, cmd->arg));
    if (transferring() && !was_transferring) {  // command_post waits for the transfer's last reply
      pending_post_ = {cmd->verb, cmd->arg};
      return title_command(cmd->verb, cmd->arg);
    }
  }
  title_update();
  modules_command_post(cmd->verb, cmd->arg);
}

// Handles every complete line; while a transfer runs only ABOR, STAT and NOOP
// are taken, the rest wait in the buffer until it ends. An over-long line is
// discarded up to its end and answered with 500; the session goes on.
void Session::process_input() {
  for (;;) {
    size_t eol = inbuf_.find('\n', line_start_);
    if (eol == std::string::npos) break;
    size_t len = eol - line_start_;
    if (discarding_ || len > kMaxCommandLine + 1) {
      line_start_ = eol + 1;
      discarding_ = false;
      reply(500, "Command line too long.");
      continue;
    }
    if (len > 0 && inbuf_[eol - 1] == '\r') --len;
    std::string line = telnet_strip(std::string_view(inbuf_).substr(line_start_, len));
    if (transferring() && !is_during_transfer_verb(line)) break;
    line_start_ = eol + 1;
    dispatch(line);
    if (discard_pending_input_) {  // AUTH: what follows in plaintext is not trusted
      discard_pending_input_ = false;
      inbuf_.clear();
      line_start_ = 0;
      return;
    }
  }
  inbuf_.erase(0, line_start_);
  line_start_ = 0;
  if (inbuf_.size() > kMaxCommandLine + 1 && inbuf_.find('\n') == std::string::npos) {
    inbuf_.clear();
    discarding_ = true;
  }
}

// TLS may hold decrypted bytes libevent cannot see: read until nothing is ready.
void Session::on_readable() {
  // 4 KiB: command lines are short, TLS reads loop below, and every KiB of stack the
  // idle session has touched stays dirty in it.
  char buf[4096];
  bool got = false;
  for (;;) {
    ssize_t n = control_read(buf, sizeof buf);
    if (n < 0) break;
    if (n == 0) end_silently();
    inbuf_.append(buf, static_cast<size_t>(n));
    got = true;
    if (inbuf_.size() > kMaxBufferedInput) end_session(500, "Too much input.");
    if (!ssl_) break;
  }
  if (!got) return;
  arm_idle_timer();
  process_input();
}

void Session::arm_idle_timer() {
  if (cfg.idle_session_timeout == 0) return;
  timeval tv{static_cast<time_t>(cfg.idle_session_timeout), 0};
  event_add(idle_ev_.get(), &tv);
}

// A transfer's memory (a listing's entries and names, about 1 MiB per 10,000) stays
// with malloc until the session has been a second without a transfer, instead of going
// back to the kernel at each free and being faulted in again by the next transfer:
// brk and page faults were 5% of a listing repeated in one session. The bound is
// glibc's largest mmap threshold; bigger blocks are mapped and unmapped as before.
void Session::keep_heap_between_transfers() {
  constexpr int kKept = 32 << 20;
  mallopt(M_MMAP_THRESHOLD, kKept);
  mallopt(M_TRIM_THRESHOLD, kKept);
  trim_ev_.reset(evtimer_new(base.get(), [](evutil_socket_t, short, void*) { malloc_trim(0); },
                             nullptr));
}

void Session::arm_heap_trim() {
  static const timeval kAfter{1, 0};
  if (trim_ev_) event_add(trim_ev_.get(), &kAfter);
}

void Session::run() {
  int one = 1;
  setsockopt(st.control_fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);  // ABOR's urgent byte
  set_tcp_nodelay(st.control_fd);  // a transfer's 150 and 226 must not wait on each other
  // Implicit FTPS: TLS before the greeting, no plaintext at all.
  if (st.implicit_tls && !st.logged_in && !st.after_rein && !tls_handshake()) end_silently();
  if (st.logged_in) {
    keep_heap_between_transfers();
    umask(st.anonymous ? cfg.anon_umask : cfg.local_umask);
    // TLS 1.2 clients may resume the control session by id, not ticket.
    if (st.tls.active && ctx.tls && !st.tls.session.empty())
      tls_import_session(ctx.tls.get(), st.tls.session);
    reply(230, "Login successful.");
  } else if (st.after_rein) {
    reply(220, "Service ready for new user.");
  } else {
    reply_raw(ctx.greeting);
  }
  modules_start();
  title_update();
  inbuf_ = st.pending;
  auto read_cb = [](evutil_socket_t, short, void* self) { static_cast<Session*>(self)->on_readable(); };
  ctrl_ev_.reset(event_new(base.get(), st.control_fd, EV_READ | EV_PERSIST, read_cb, this));
  event_add(ctrl_ev_.get(), nullptr);
  auto idle_cb = [](evutil_socket_t, short, void* self) {
    auto* s = static_cast<Session*>(self);
    if (s->transferring()) return s->arm_idle_timer();
    s->end_session(421, "Timeout.");
  };
  idle_ev_.reset(evtimer_new(base.get(), idle_cb, this));
  arm_idle_timer();
  // A session whose helper died (killed, crashed) ends too, so the master's counts
  // and the PAM session never outlive it.
  auto helper_cb = [](evutil_socket_t, short, void* self) {
    static_cast<Session*>(self)->end_session(421, "Service not available, closing control connection.");
  };
  helper_ev_.reset(event_new(base.get(), st.helper_fd, EV_READ, helper_cb, this));
  event_add(helper_ev_.get(), nullptr);
  process_input();
  event_base_dispatch(base.get());
  end_silently();
}

void worker_main(const WorkerStart& start) {
  remote_key_set_channel(start.helper_fd);  // handshake signatures: asked of the helper
  Session s(start);
  s.run();
}

}  // namespace moat
