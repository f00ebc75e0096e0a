// mod_hooktest: built for the test suite only, never installed. Each hook appends a
// line to hooktest_log naming the hook and the process it ran in (pid, comm, uid),
// so the tests can check that every hook runs where moat_module.h says; init also
// records what the host table answers.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "modules/moat_module.h"

namespace {

constexpr char kName[] = "mod_hooktest";

const moat_option kOptions[] = {
    {"hooktest_log", MOAT_OPT_STRING, "", "File the hooks append their lines to."},
    {"hooktest_admit_reply", MOAT_OPT_STRING, "",
     "When set, admit refuses every connection with this reply."},
    {"hooktest_flag", MOAT_OPT_BOOL, "NO", "A boolean for the host lookup tests."},
    {"hooktest_number", MOAT_OPT_UINT, "42", "A number for the host lookup tests."},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr},
};

struct State {
  const moat_host* host = nullptr;
  unsigned* admits = nullptr;  // in memory shared by every process of the server
};

std::string process_text() {
  char comm[17] = {};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  return "pid=" + std::to_string(getpid()) + " comm=" + comm + " uid=" + std::to_string(getuid());
}

void record(const State& s, const char* hook, const std::string& extra) {
  const char* path = s.host->option_string("hooktest_log");
  if (path == nullptr || *path == '\0') return;
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string line = std::string(hook) + " " + process_text() + " " + extra + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

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

}  // namespace

MOAT_MODULE(mod_hooktest) = {
    MOAT_MODULE_ABI_VERSION,
    sizeof(struct moat_module),
    kName,
    "Test-suite module: records where each hook runs.",
    kOptions,
    nullptr,
    hooktest_init,
    hooktest_admit,
    hooktest_session_closed,
    hooktest_login_failed,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    {},
};
