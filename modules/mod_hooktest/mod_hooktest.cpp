// SPDX-License-Identifier: GPL-2.0-or-later
// mod_hooktest: built for the test suite only, never installed. Each hook records the
// hook and the process it ran in (pid, comm, uid), so the tests can check that every
// hook runs where moat_module.h says: master hooks append lines to hooktest_log, the
// session processes' hooks (worker, helper) write them through host->log.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "modules/moat_module.h"

namespace {

constexpr char kName[] = "mod_hooktest";
constexpr uint16_t kPrivType = 1;  // the one request type the helper side grants
constexpr size_t kMaxPayload = 4096;

// Handles of the options below, filled in by the host when it loads the module.
uint32_t h_log, h_admit_reply, h_flag, h_number, h_refuse_verb, h_rate, h_progress_rate;
uint32_t h_listen_port, h_listen, h_ftp_username;

const moat_option kOptions[] = {
    {"hooktest_log", MOAT_OPT_STRING, "", "File the master hooks append their lines to.",
     &h_log, 0},
    {"hooktest_admit_reply", MOAT_OPT_STRING, "",
     "When set, admit refuses every connection with this reply.", &h_admit_reply, 0},
    {"hooktest_flag", MOAT_OPT_BOOL, "NO", "A boolean for the host lookup tests.", &h_flag, 0},
    {"hooktest_number", MOAT_OPT_UINT, "42", "A number for the host lookup tests.", &h_number, 0},
    {"hooktest_refuse_verb", MOAT_OPT_STRING, "",
     "When set, command_pre refuses this verb with 550 after login.", &h_refuse_verb, 0},
    {"hooktest_rate", MOAT_OPT_UINT, "0",
     "When not 0, transfer_begin limits each transfer to this many bytes per second.", &h_rate,
     0},
    {"hooktest_progress_rate", MOAT_OPT_UINT, "0",
     "When not 0, transfer_progress limits the running transfer to this many bytes per "
     "second: a limit that arrives mid-transfer.",
     &h_progress_rate, 0},
    // Core options it reads, for the tests that compare what the host answers.
    {"listen_port", MOAT_OPT_UINT, nullptr, nullptr, &h_listen_port, MOAT_OPT_CORE},
    {"listen", MOAT_OPT_BOOL, nullptr, nullptr, &h_listen, MOAT_OPT_CORE},
    {"ftp_username", MOAT_OPT_STRING, nullptr, nullptr, &h_ftp_username, MOAT_OPT_CORE},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0},
};

// XPRE works before login; every other verb of the module is post-login only.
const char* const kPreauthVerbs[] = {"XPRE", nullptr};

struct State {
  const moat_ctx* ctx = nullptr;
  unsigned* admits = nullptr;  // in memory shared by every process of the server
};

// The workers' seccomp filter has no prctl and their chroot no /proc: there the
// line carries pid and uid only, and the tests read the comm from /proc/PID/comm.
std::string process_text(bool with_comm) {
  std::string text = "pid=" + std::to_string(getpid());
  if (with_comm) {
    char comm[17] = {};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    text += std::string(" comm=") + comm;
  }
  return text + " uid=" + std::to_string(getuid());
}

// Master hooks: one line appended to hooktest_log.
void record(const State& s, const char* hook, const std::string& extra) {
  const char* path = s.ctx->host->opt_string(s.ctx, h_log);
  if (path == nullptr || *path == '\0') return;
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string line = std::string(hook) + " " + process_text(true) + " " + extra + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

// Session processes: a worker may not open files (nor reach hooktest_log from its
// chroot), so their lines go to the server's stderr through the host.
void say(const State& s, const char* hook, bool with_comm, const std::string& extra) {
  const std::string line = std::string(hook) + " " + process_text(with_comm) + " " + extra;
  s.ctx->host->log(s.ctx, line.c_str());
}

// A value as one space-free word, so that the tests can split lines on spaces.
std::string word(std::string_view text, size_t max = 64) {
  std::string out(text.substr(0, max));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '_';
  }
  return out;
}

// ---- master ------------------------------------------------------------------------

// What the host table answers in init, for the tests to compare with the config. A
// handle the module was never given, and one read as another type, read as 0 / "".
std::string host_answers(const moat_ctx* c, bool shared_ok) {
  const moat_host* h = c->host;
  return "abi=" + std::to_string(h->abi_version) +
         " listen_port=" + std::to_string(h->opt_uint(c, h_listen_port)) +
         " listen=" + std::to_string(h->opt_bool(c, h_listen)) +
         " ftp_username=" + h->opt_string(c, h_ftp_username) +
         " hooktest_flag=" + std::to_string(h->opt_bool(c, h_flag)) +
         " hooktest_number=" + std::to_string(h->opt_uint(c, h_number)) +
         " unknown=" + std::to_string(h->opt_uint(c, 9999)) + "[" + h->opt_string(c, 9999) + "]" +
         " wrong_type=" + std::to_string(h->opt_uint(c, h_log)) +
         " shared=" + (shared_ok ? "ok" : "null") +
         " privileged=" + std::to_string(h->privileged(c, 1, "x", 1, -1));
}

int hooktest_init(moat_ctx* ctx) {
  static State s;
  s.ctx = ctx;
  s.admits = static_cast<unsigned*>(ctx->host->shared_alloc(ctx, sizeof(unsigned)));
  ctx->state = &s;
  record(s, "init", host_answers(ctx, s.admits != nullptr));
  return 0;
}

const State& state_of(const moat_ctx* ctx) { return *static_cast<const State*>(ctx->state); }

int hooktest_admit(moat_ctx* ctx, const moat_conn* conn, char* reply, size_t len) {
  State& s = *static_cast<State*>(ctx->state);
  if (s.admits != nullptr) ++*s.admits;
  const bool late_alloc = s.ctx->host->shared_alloc(s.ctx, 16) != nullptr;
  record(s, "admit",
         std::string("peer=") + conn->peer_text + " admits=" +
             std::to_string(s.admits ? *s.admits : 0) +
             " shared_after_init=" + (late_alloc ? "ptr" : "null"));
  const char* refusal = s.ctx->host->opt_string(s.ctx, h_admit_reply);
  if (*refusal == '\0') return MOAT_CONTINUE;
  std::snprintf(reply, len, "%s", refusal);
  return MOAT_REFUSE;
}

void hooktest_session_closed(moat_ctx* ctx, const moat_conn* conn) {
  record(state_of(ctx), "session_closed", std::string("peer=") + conn->peer_text);
}

void hooktest_login_failed(moat_ctx* ctx, const moat_conn* conn, const char* user) {
  record(state_of(ctx), "login_failed",
         std::string("peer=") + conn->peer_text + " user=" + user);
}

// ---- helper ------------------------------------------------------------------------

const char* fd_kind(int fd) {
  if (fd < 0) return "none";
  struct stat st {};
  if (fstat(fd, &st) != 0) return "bad";
  if (S_ISFIFO(st.st_mode)) return "fifo";
  if (S_ISREG(st.st_mode)) return "file";
  if (S_ISSOCK(st.st_mode)) return "socket";
  return "other";
}

const char* text_or_empty(const char* text) { return text != nullptr ? text : ""; }

// Grants request type 1 with the payload "ok", nothing else. It also asks the host for
// a privileged request itself: the helper has no worker services, so that must fail.
int hooktest_priv(moat_ctx* ctx, const moat_conn* conn, const moat_session* session,
                  uint16_t type, const void* payload, size_t len, int fd) {
  if (ctx->state == nullptr) return -1;  // init never ran: nothing to judge with
  const State& s = state_of(ctx);
  const std::string_view data(static_cast<const char*>(payload), payload ? len : 0);
  const bool grant = type == kPrivType && data == "ok";
  const int nested = s.ctx->host->privileged(s.ctx, kPrivType, "ok", 2, -1);
  say(s, "priv", true,
      "type=" + std::to_string(type) + " len=" + std::to_string(len) + " payload=" + word(data) +
          " fd=" + fd_kind(fd) + " user=" + word(text_or_empty(session->user)) +
          " peer=" + word(text_or_empty(conn->peer_text)) +
          " nested=" + std::to_string(nested) + " grant=" + (grant ? "1" : "0"));
  return grant ? 0 : -1;
}

// ---- worker ------------------------------------------------------------------------

std::string session_text(const moat_session* session) {
  return std::string("user=") + word(text_or_empty(session->user)) +
         " anonymous=" + std::to_string(session->anonymous);
}

// Anonymous logins: asked for the writes, grants none (mod_anon_upload's job).
int hooktest_login_rights(moat_ctx* ctx, const moat_session* session, uint32_t* rights) {
  *rights = 0;
  if (ctx->state != nullptr) say(state_of(ctx), "login_rights", true, session_text(session));
  return 0;
}

void hooktest_session_start(moat_ctx* ctx, moat_session* session) {
  const State& s = state_of(ctx);
  say(s, "session_start", false,
      session_text(session) + " peer=" + word(text_or_empty(session->conn->peer_text)));
}

void reply_result(const State& s, const char* verb, const std::string& what) {
  s.ctx->host->reply(s.ctx, 200, (std::string(verb) + " " + what).c_str());
}

// XPRIVFD: one end of a pipe travels to the helper, which must close its copy: once
// the answer is back, the write end has no reader left (POLLERR).
std::string priv_with_fd(const State& s) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return "result=nopipe";
  const int rc = s.ctx->host->privileged(s.ctx, kPrivType, "ok", 2, p[0]);
  close(p[0]);
  pollfd pf{p[1], POLLOUT, 0};
  const bool orphaned = poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR);
  close(p[1]);
  return "result=" + std::to_string(rc) + " reader_closed=" + (orphaned ? "yes" : "no");
}

// XPRIVBIG: the host's payload limit, from both sides of it, and a descriptor that is
// not open (refused in the worker; the session goes on).
std::string priv_big(const State& s) {
  static char buf[kMaxPayload + 1];
  std::memset(buf, 'o', sizeof buf);
  const int at_limit = s.ctx->host->privileged(s.ctx, kPrivType, buf, kMaxPayload, -1);
  const int over = s.ctx->host->privileged(s.ctx, kPrivType, buf, kMaxPayload + 1, -1);
  const int bad_fd = s.ctx->host->privileged(s.ctx, kPrivType, "ok", 2, 1000);  // not an open descriptor
  return "at_limit=" + std::to_string(at_limit) + " over=" + std::to_string(over) +
         " bad_fd=" + std::to_string(bad_fd);
}

// The module's own verbs; -1 when the verb is not one of them.
int own_verb(const State& s, std::string_view verb, const char* arg) {
  if (verb == "XHOOK") {
    reply_result(s, "XHOOK", "handled by mod_hooktest.");
  } else if (verb == "XPRE") {
    const int rc = s.ctx->host->privileged(s.ctx, kPrivType, "ok", 2, -1);
    reply_result(s, "XPRE", "privileged=" + std::to_string(rc));
  } else if (verb == "XPRIV") {
    const int rc = s.ctx->host->privileged(s.ctx, kPrivType, arg, std::strlen(arg), -1);
    reply_result(s, "XPRIV", "result=" + std::to_string(rc));
  } else if (verb == "XPRIVFD") {
    reply_result(s, "XPRIVFD", priv_with_fd(s));
  } else if (verb == "XPRIVBIG") {
    reply_result(s, "XPRIVBIG", priv_big(s));
  } else {
    return -1;
  }
  return MOAT_HANDLED;
}

int hooktest_command_pre(moat_ctx* ctx, moat_session* session, const moat_command* cmd) {
  const State& s = state_of(ctx);
  say(s, "command_pre", false,
      "verb=" + word(cmd->verb) + " arg=" + word(cmd->arg) + " " + session_text(session));
  const int handled = own_verb(s, cmd->verb, cmd->arg);
  if (handled >= 0) return handled;
  const char* refuse = s.ctx->host->opt_string(s.ctx, h_refuse_verb);
  if (*refuse == '\0' || std::strcmp(refuse, cmd->verb) != 0) return MOAT_CONTINUE;
  s.ctx->host->reply(s.ctx, 550, "Refused by mod_hooktest.");
  return MOAT_REFUSE;
}

void hooktest_command_post(moat_ctx* ctx, moat_session* session, const moat_command* cmd) {
  say(state_of(ctx), "command_post", false,
      "verb=" + word(cmd->verb) + " arg=" + word(cmd->arg) +
          " reply_code=" + std::to_string(cmd->reply_code) + " " + session_text(session));
}

std::string transfer_text(const moat_transfer* x) {
  return "upload=" + std::to_string(x->upload) + " listing=" + std::to_string(x->listing) +
         " path=" + word(x->path ? x->path : "", 256) + " bytes=" + std::to_string(x->bytes) +
         " complete=" + std::to_string(x->complete);
}

int hooktest_file_created(moat_ctx* ctx, moat_session* session, int fd, const char* path) {
  say(state_of(ctx), "file_created", false,
      "path=" + word(path, 256) + " fd=" + fd_kind(fd) + " " + session_text(session));
  return MOAT_CONTINUE;
}

void hooktest_transfer_begin(moat_ctx* ctx, moat_session*, const moat_transfer* x) {
  const State& s = state_of(ctx);
  const unsigned rate = s.ctx->host->opt_uint(s.ctx, h_rate);
  if (rate > 0) s.ctx->host->rate_limit(s.ctx, rate);
  say(s, "transfer_begin", false, transfer_text(x) + " rate=" + std::to_string(rate));
}

void hooktest_transfer_progress(moat_ctx* ctx, moat_session*, const moat_transfer* x) {
  const State& s = state_of(ctx);
  const unsigned rate = s.ctx->host->opt_uint(s.ctx, h_progress_rate);
  if (rate > 0) s.ctx->host->rate_limit(s.ctx, rate);
  say(s, "transfer_progress", false, transfer_text(x) + " rate=" + std::to_string(rate));
}

void hooktest_transfer_end(moat_ctx* ctx, moat_session*, const moat_transfer* x) {
  say(state_of(ctx), "transfer_end", false, transfer_text(x));
}

constexpr moat_module make_module() {
  moat_module m{};
  m.abi_version = MOAT_MODULE_ABI_VERSION;
  m.struct_size = sizeof(moat_module);
  m.name = kName;
  m.description = "Test-suite module: records where each hook runs.";
  m.options = kOptions;
  m.preauth_commands = kPreauthVerbs;
  m.init = hooktest_init;
  m.admit = hooktest_admit;
  m.session_closed = hooktest_session_closed;
  m.login_failed = hooktest_login_failed;
  m.login_rights = hooktest_login_rights;
  m.priv_handler = hooktest_priv;
  m.session_start = hooktest_session_start;
  m.command_pre = hooktest_command_pre;
  m.command_post = hooktest_command_post;
  m.file_created = hooktest_file_created;
  m.transfer_begin = hooktest_transfer_begin;
  m.transfer_progress = hooktest_transfer_progress;
  m.transfer_end = hooktest_transfer_end;
  return m;
}

}  // namespace

MOAT_MODULE(mod_hooktest) = make_module();
