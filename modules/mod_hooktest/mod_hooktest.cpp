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

const moat_option kOptions[] = {
    {"hooktest_log", MOAT_OPT_STRING, "", "File the master hooks append their lines to."},
    {"hooktest_admit_reply", MOAT_OPT_STRING, "",
     "When set, admit refuses every connection with this reply."},
    {"hooktest_flag", MOAT_OPT_BOOL, "NO", "A boolean for the host lookup tests."},
    {"hooktest_number", MOAT_OPT_UINT, "42", "A number for the host lookup tests."},
    {"hooktest_refuse_verb", MOAT_OPT_STRING, "",
     "When set, command_pre refuses this verb with 550 after login."},
    {"hooktest_rate", MOAT_OPT_UINT, "0",
     "When not 0, transfer_begin limits each transfer to this many bytes per second."},
    {"hooktest_progress_rate", MOAT_OPT_UINT, "0",
     "When not 0, transfer_progress limits the running transfer to this many bytes per "
     "second: a limit that arrives mid-transfer."},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr},
};

// XPRE works before login; every other verb of the module is post-login only.
const char* const kPreauthVerbs[] = {"XPRE", nullptr};

struct State {
  const moat_host* host = nullptr;
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
  const char* path = s.host->option_string("hooktest_log");
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
  s.host->log(kName, line.c_str());
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

// What the host table answers in init, for the tests to compare with the config.
std::string host_answers(const moat_host* h, bool shared_ok) {
  return "abi=" + std::to_string(h->abi_version) +
         " listen_port=" + std::to_string(h->option_uint("listen_port")) +
         " listen=" + std::to_string(h->option_bool("listen")) +
         " ftp_username=" + h->option_string("ftp_username") +
         " hooktest_flag=" + std::to_string(h->option_bool("hooktest_flag")) +
         " hooktest_number=" + std::to_string(h->option_uint("hooktest_number")) +
         " unknown=" + std::to_string(h->option_uint("no_such_option")) + "[" +
         h->option_string("no_such_option") + "]" +
         " wrong_type=" + std::to_string(h->option_uint("hooktest_log")) +
         " shared=" + (shared_ok ? "ok" : "null") +
         " privileged=" + std::to_string(h->privileged(1, "x", 1, -1));
}

int hooktest_init(const moat_host* host, void** module_state) {
  static State s;
  s.host = host;
  s.admits = static_cast<unsigned*>(host->shared_alloc(sizeof(unsigned)));
  *module_state = &s;
  record(s, "init", host_answers(host, s.admits != nullptr));
  return 0;
}

int hooktest_admit(void* state, const moat_conn* conn, char* reply, size_t len) {
  State& s = *static_cast<State*>(state);
  if (s.admits != nullptr) ++*s.admits;
  const bool late_alloc = s.host->shared_alloc(16) != nullptr;
  record(s, "admit",
         std::string("peer=") + conn->peer_text + " admits=" +
             std::to_string(s.admits ? *s.admits : 0) +
             " shared_after_init=" + (late_alloc ? "ptr" : "null"));
  const char* refusal = s.host->option_string("hooktest_admit_reply");
  if (*refusal == '\0') return MOAT_CONTINUE;
  std::snprintf(reply, len, "%s", refusal);
  return MOAT_REFUSE;
}

void hooktest_session_closed(void* state, const moat_conn* conn) {
  record(*static_cast<State*>(state), "session_closed", std::string("peer=") + conn->peer_text);
}

void hooktest_login_failed(void* state, const moat_conn* conn, const char* user) {
  record(*static_cast<State*>(state), "login_failed",
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
int hooktest_priv(void* state, const moat_conn* conn, const moat_session* session, uint16_t type,
                  const void* payload, size_t len, int fd) {
  if (state == nullptr) return -1;  // init never ran: nothing to judge with
  const State& s = *static_cast<State*>(state);
  const std::string_view data(static_cast<const char*>(payload), payload ? len : 0);
  const bool grant = type == kPrivType && data == "ok";
  const int nested = s.host->privileged(kPrivType, "ok", 2, -1);
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

void hooktest_session_start(void* state, moat_session* session) {
  const State& s = *static_cast<State*>(state);
  say(s, "session_start", false,
      session_text(session) + " peer=" + word(text_or_empty(session->conn->peer_text)));
}

void reply_result(const State& s, const char* verb, const std::string& what) {
  s.host->reply(200, (std::string(verb) + " " + what).c_str());
}

// XPRIVFD: one end of a pipe travels to the helper, which must close its copy: once
// the answer is back, the write end has no reader left (POLLERR).
std::string priv_with_fd(const State& s) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return "result=nopipe";
  const int rc = s.host->privileged(kPrivType, "ok", 2, p[0]);
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
  const int at_limit = s.host->privileged(kPrivType, buf, kMaxPayload, -1);
  const int over = s.host->privileged(kPrivType, buf, kMaxPayload + 1, -1);
  const int bad_fd = s.host->privileged(kPrivType, "ok", 2, 1000);  // not an open descriptor
  return "at_limit=" + std::to_string(at_limit) + " over=" + std::to_string(over) +
         " bad_fd=" + std::to_string(bad_fd);
}

// The module's own verbs; -1 when the verb is not one of them.
int own_verb(const State& s, std::string_view verb, const char* arg) {
  if (verb == "XHOOK") {
    reply_result(s, "XHOOK", "handled by mod_hooktest.");
  } else if (verb == "XPRE") {
    const int rc = s.host->privileged(kPrivType, "ok", 2, -1);
    reply_result(s, "XPRE", "privileged=" + std::to_string(rc));
  } else if (verb == "XPRIV") {
    const int rc = s.host->privileged(kPrivType, arg, std::strlen(arg), -1);
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

int hooktest_command_pre(void* state, moat_session* session, const moat_command* cmd) {
  const State& s = *static_cast<State*>(state);
  say(s, "command_pre", false,
      "verb=" + word(cmd->verb) + " arg=" + word(cmd->arg) + " " + session_text(session));
  const int handled = own_verb(s, cmd->verb, cmd->arg);
  if (handled >= 0) return handled;
  const char* refuse = s.host->option_string("hooktest_refuse_verb");
  if (*refuse == '\0' || std::strcmp(refuse, cmd->verb) != 0) return MOAT_CONTINUE;
  s.host->reply(550, "Refused by mod_hooktest.");
  return MOAT_REFUSE;
}

void hooktest_command_post(void* state, moat_session* session, const moat_command* cmd) {
  say(*static_cast<State*>(state), "command_post", false,
      "verb=" + word(cmd->verb) + " arg=" + word(cmd->arg) +
          " reply_code=" + std::to_string(cmd->reply_code) + " " + session_text(session));
}

std::string transfer_text(const moat_transfer* x) {
  return "upload=" + std::to_string(x->upload) + " listing=" + std::to_string(x->listing) +
         " path=" + word(x->path ? x->path : "", 256) + " bytes=" + std::to_string(x->bytes) +
         " complete=" + std::to_string(x->complete);
}

void hooktest_transfer_begin(void* state, moat_session*, const moat_transfer* x) {
  const State& s = *static_cast<State*>(state);
  const unsigned rate = s.host->option_uint("hooktest_rate");
  if (rate > 0) s.host->rate_limit(rate);
  say(s, "transfer_begin", false, transfer_text(x) + " rate=" + std::to_string(rate));
}

void hooktest_transfer_progress(void* state, moat_session*, const moat_transfer* x) {
  const State& s = *static_cast<State*>(state);
  const unsigned rate = s.host->option_uint("hooktest_progress_rate");
  if (rate > 0) s.host->rate_limit(rate);
  say(s, "transfer_progress", false, transfer_text(x) + " rate=" + std::to_string(rate));
}

void hooktest_transfer_end(void* state, moat_session*, const moat_transfer* x) {
  say(*static_cast<State*>(state), "transfer_end", false, transfer_text(x));
}

}  // namespace

MOAT_MODULE(mod_hooktest) = {
    MOAT_MODULE_ABI_VERSION,
    sizeof(struct moat_module),
    kName,
    "Test-suite module: records where each hook runs.",
    kOptions,
    kPreauthVerbs,
    hooktest_init,
    hooktest_admit,
    hooktest_session_closed,
    hooktest_login_failed,
    hooktest_priv,
    hooktest_session_start,
    hooktest_command_pre,
    hooktest_command_post,
    hooktest_transfer_begin,
    hooktest_transfer_end,
    hooktest_transfer_progress,
    {},
};
