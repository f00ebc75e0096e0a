// SPDX-License-Identifier: GPL-2.0-or-later
// --who and --kick in the master. The master never parses client bytes, and no session
// process tells it anything here: the client address is its own record, and the user
// and the transfer come from the post-login worker's process title, which the worker
// writes with client text escaped (core/common/proctitle.hpp). A worker can only lie about
// its own session, which it serves anyway; it cannot add a line or a session.
#include "core/master/session_who.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "core/common/proctitle.hpp"

namespace moat {
namespace {

std::string read_proc(pid_t pid, const char* file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parent pid and comm from /proc/PID/stat ("pid (comm) state ppid ...").
bool stat_of(pid_t pid, pid_t& ppid, std::string& comm) {
  const std::string st = read_proc(pid, "stat");
  const std::size_t open = st.find('('), close = st.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  comm = st.substr(open + 1, close - open - 1);
  std::istringstream rest(st.substr(close + 1));
  char state = 0;
  return static_cast<bool>(rest >> state >> ppid);
}

// Each helper's post-login worker, from one pass over /proc.
std::map<pid_t, pid_t> post_login_workers() {
  std::map<pid_t, pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = 0;
    const char* end = e->d_name + std::char_traits<char>::length(e->d_name);
    if (std::from_chars(e->d_name, end, pid).ptr != end || pid <= 0) continue;
    pid_t ppid = 0;
    std::string comm;
    if (stat_of(pid, ppid, comm) && comm == "moat-session") out[ppid] = pid;
  }
  closedir(d);
  return out;
}

std::string title_of(pid_t pid) {
  std::string t = read_proc(pid, "cmdline");
  t.resize(std::min(t.size(), t.find('\0')));
  return t;
}

// PID CLIENT USER STATE BYTES FILE; '-' for what a session does not have yet.
std::string who_line(pid_t helper, const ConnInfo& conn, const std::map<pid_t, pid_t>& workers) {
  TitleFields f;
  auto w = workers.find(helper);
  if (w == workers.end() || !proctitle_parse(title_of(w->second), f)) f = {"", "connected", "", -1};
  auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  return std::to_string(helper) + " " + conn.peer_text + " " + dash(f.user) + " " + f.state + " " +
         (f.bytes < 0 ? "-" : std::to_string(f.bytes)) + " " + dash(f.arg) + "\n";
}

std::string who(const SessionTable& sessions) {
  const auto workers = post_login_workers();
  std::string out;
  sessions.for_each([&](pid_t pid, const ConnInfo& conn) { out += who_line(pid, conn, workers); });
  return out;
}

// Any process of a session names it (ps shows the worker's pid): the helper leads the
// session's process group, so the group is the whole session. Other pids are refused.
std::string kick(const SessionTable& sessions, std::string_view arg) {
  pid_t pid = 0;
  if (std::from_chars(arg.data(), arg.data() + arg.size(), pid).ptr != arg.data() + arg.size() ||
      pid <= 0)
    return "ERR bad pid\n";
  const pid_t leader = sessions.contains(pid) ? pid : getsid(pid);
  if (leader <= 0 || !sessions.contains(leader))
    return "ERR " + std::to_string(pid) + " is not a session of this server\n";
  if (kill(-leader, SIGTERM) != 0) return "ERR kill: " + errno_text(errno) + "\n";
  std::fprintf(stderr, "moatftpd: session %d kicked (control socket)\n", static_cast<int>(leader));
  return "OK session " + std::to_string(leader) + " ended\n";
}

}  // namespace

std::string control_answer(const SessionTable& sessions, ModuleRegistry& modules,
                           const std::string& request) {
  if (request == "WHO") return who(sessions);
  if (request.starts_with("KICK ")) return kick(sessions, std::string_view(request).substr(5));
  if (auto answer = modules.control(request)) return *answer;
  if (request == "BANS" || request.starts_with("UNBAN ")) return "ERR mod_iplimit is not loaded\n";
  return "ERR unknown request\n";
}

}  // namespace moat
