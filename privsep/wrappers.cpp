// SPDX-License-Identifier: GPL-2.0-or-later
// tcp_wrappers in two sandboxed children: a judge without network, and a resolver that it asks for
// the client's name (issue 11, point 9).
#include "privsep/wrappers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include "config.h"
#include "core/common/sockaddr.hpp"
#include "privsep/children.hpp"
#include "privsep/host_lookup.hpp"
#include "privsep/libwrap.hpp"
#include "privsep/libwrap_hooks.hpp"
#include "privsep/sandbox.hpp"
#include "core/common/users.hpp"
#include "privsep/worker_stderr.hpp"
#include "privsep/wrappers_options.hpp"

namespace moat {
namespace {

constexpr char kAllow = 'y';
constexpr char kDeny = 'n';
constexpr char kFirstOption = '@';  // kFirstOption + index: refused for that option
constexpr char kAskName = '?';

struct Child {
  Identity id;
  bool seccomp = true;
};

// err: the write end of a pipe the helper relays behind its own prefix (WorkerStderr), so that a
// child's stderr cannot forge one of the helper's lines.
void enter(const Child& c, const char* name, int err, const std::vector<int>& keep,
           SeccompProfile profile) {
  prctl(PR_SET_NAME, name);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (dup2(err, STDERR_FILENO) < 0) _exit(1);
  close_fds_except(keep);
  if (auto st = sandbox_drop_privileges(c.id); !st) _exit(1);
  if (c.seccomp)
    if (auto st = seccomp_install({profile}); !st) _exit(1);
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// ---- the resolver -------------------------------------------------------------------------------

[[noreturn]] void resolve(const Child& c, const sockaddr_storage& peer, int err, int judge) {
  enter(c, "moat-resolver", err, {judge}, SeccompProfile::kResolver);
  char ask = 0;
  if (read(judge, &ask, 1) != 1 || ask != kAskName) _exit(0);  // no rule needed the name
  write_all(judge, verified_host_name(peer));
  _exit(0);
}

// ---- the judge ----------------------------------------------------------------------------------

#ifdef HAVE_LIBWRAP
// What a name from the resolver may hold: a host name's characters or libwrap's words.
bool plausible_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxHostName) return false;
  for (unsigned char ch : s)
    if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_') return false;
  return true;
}

std::optional<std::string> ask_name(int resolver) {
  if (!write_all(resolver, std::string_view(&kAskName, 1))) return std::nullopt;
  char buf[kMaxHostName + 1];
  size_t got = 0;
  for (;;) {
    const ssize_t n = read(resolver, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0 || (got += static_cast<size_t>(n)) == sizeof buf) break;
  }
  std::string name(buf, got);
  if (!plausible_name(name)) return std::nullopt;
  return name;
}

int g_resolver = -1;  // libwrap's hostname method has no context argument

// libwrap's hostname method, called the first time a rule needs the client's name. No answer (a
// resolver that failed or died) means no verdict: the client is refused.
void name_from_resolver(host_info* host) {
  // The server's name (rules of the form daemon@host) is not looked up: it stays "unknown".
  if (host != host->request->client) return;
  auto name = ask_name(g_resolver);
  if (!name) _exit(1);
  std::snprintf(host->name, sizeof host->name, "%s", name->c_str());
}

char verdict_of(const std::string& client, const std::string& server, int resolver) {
  const LibWrap& w = libwrap();
  if (w.hosts_access == nullptr) return kDeny;  // not loaded: refuse, never admit
  g_resolver = resolver;
  request_info req;
  w.request_init(&req, RQ_DAEMON, "moatftpd", RQ_CLIENT_ADDR, client.c_str(), RQ_SERVER_ADDR,
                 server.c_str(), 0);
  req.hostname = name_from_resolver;
  // Should libwrap's own option code run after all (a libwrap built so that moatftpd's cannot
  // replace it), it then only checks the options' syntax.
  *w.dry_run = 1;
  const bool allowed = w.hosts_access(&req) != 0;
  if (wrappers_refused_option() >= 0)
    return static_cast<char>(kFirstOption + wrappers_refused_option());
  if (*w.dry_run == 0) return static_cast<char>(kFirstOption + wrappers_option_index("twist"));
  return allowed ? kAllow : kDeny;
}
#else
char verdict_of(const std::string&, const std::string&, int) { return kAllow; }
#endif

// Addresses are unmapped (::ffff:a.b.c.d is a.b.c.d), so IPv4 rules match on a dual-stack socket.
[[noreturn]] void judge(const Child& c, const Endpoints& ends, int err, int resolver,
                        int verdict_fd) {
  const std::string client = sockaddr_host_text(ends.peer);
  sockaddr_storage local = ends.local;
  sockaddr_unmap(local);
  const std::string server = sockaddr_host_text(local);
  enter(c, "moat-wrappers", err, {resolver, verdict_fd}, SeccompProfile::kWrappers);
  const char verdict = verdict_of(client, server, resolver);
  write_all(verdict_fd, std::string_view(&verdict, 1));
  _exit(0);
}

// ---- the helper's side --------------------------------------------------------------------------

// The judge's verdict byte, or 0 when none came within the timeout.
char read_verdict(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + kWrappersTimeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    char c = 0;
    return n == 1 && read(fd, &c, 1) == 1 ? c : '\0';
  }
}

// Why a child gave no answer, for the log: a filter's kill says which role's filter it was.
std::string death(const char* who, int status) {
  if (status < 0 || !WIFSIGNALED(status)) return "";
  const int sig = WTERMSIG(status);
  return std::string(": ") + who + " killed by signal " + std::to_string(sig) +
         (sig == SIGSYS ? " (seccomp)" : "");
}

WrappersVerdict explain(char verdict, const std::string& deaths = "") {
  if (verdict == kAllow) return {true, ""};
  if (verdict == kDeny) return {false, "refused by tcp_wrappers"};
  if (verdict == 0) return {false, "refused by tcp_wrappers: no verdict" + deaths};
  const auto option = static_cast<unsigned>(static_cast<unsigned char>(verdict - kFirstOption));
  return {false, "refused by tcp_wrappers: the matching rule has the option \"" +
                     std::string(wrappers_option_name(option)) +
                     "\"; moatftpd runs no options but a lone allow or deny"};
}

// Forks child with a stderr pipe of its own from err; -1 when either fails.
pid_t spawn(WorkerStderr& err, const std::function<void(int)>& child) {
  auto pipe = err.open();
  if (!pipe) return -1;
  const pid_t pid = fork();
  if (pid == 0) child(pipe->get());
  err.started(pid > 0 ? pid : 0);
  return pid;
}

}  // namespace

WrappersVerdict wrappers_check(const Config& cfg, const Endpoints& ends, WorkerStderr& err) {
  if (!cfg.tcp_wrappers) return {true, ""};
  auto nopriv = user_lookup(cfg.nopriv_user);
  if (!nopriv) return explain(0);
  const Child c{{nopriv->uid, nopriv->gid, {nopriv->gid}, "", "/"}, cfg.seccomp_sandbox};
  int pair[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return explain(0);
  UniqueFd to_resolver(pair[0]), to_judge(pair[1]);
  if (pipe2(p, O_CLOEXEC) != 0) return explain(0);
  UniqueFd rd(p[0]), wr(p[1]);
  const pid_t resolver = spawn(err, [&](int e) { resolve(c, ends.peer, e, to_judge.get()); });
  if (resolver < 0) return explain(0);
  const pid_t judged = spawn(err, [&](int e) { judge(c, ends, e, to_resolver.get(), wr.get()); });
  to_resolver.reset();
  to_judge.reset();
  wr.reset();
  const char verdict = judged < 0 ? '\0' : read_verdict(rd.get());
  const auto grace = verdict == 0 ? std::chrono::milliseconds(0) : kExitGrace;
  const int judge_status = judged > 0 ? reap_within(judged, grace) : -1;
  // It has answered, or sees the judge gone and exits.
  const int resolver_status = reap_within(resolver, grace);
  err.drain();
  return explain(verdict,
                 death("moat-wrappers", judge_status) + death("moat-resolver", resolver_status));
}

}  // namespace moat
