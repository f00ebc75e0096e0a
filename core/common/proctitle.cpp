// SPDX-License-Identifier: GPL-2.0-or-later
// Process titles written over argv and environ (the classic setproctitle technique):
// the kernel shows that memory as /proc/PID/cmdline, so ps and the master's --who
// read it; setting one is a memcpy, allowed inside every seccomp profile.
#include "core/common/proctitle.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <errno.h>

extern char** environ;

namespace moat {
namespace {

char* g_area = nullptr;  // argv[0]; the title area runs to g_end
char* g_end = nullptr;

constexpr std::string_view kPrefix = "moatftpd: ";
constexpr std::string_view kBytesOpen = " (";
constexpr std::string_view kBytesClose = " bytes)";

// The strings of argv then environ as the kernel laid them out: one block. The area
// ends where they stop being contiguous.
char* contiguous_end(int argc, char** argv) {
  char* end = argv[0];
  for (int i = 0; i < argc; ++i)
    if (argv[i] == end) end = argv[i] + std::strlen(argv[i]) + 1;
  for (int i = 0; environ[i] != nullptr; ++i)
    if (environ[i] == end) end = environ[i] + std::strlen(environ[i]) + 1;
  return end;
}

// getenv must go on working after the strings are overwritten. The copies live as long
// as the process, like environ itself; they are also listed here, never destroyed,
// because setenv may drop a pointer from environ (LeakSanitizer would call it lost).
void move_environ() {
  static auto& copies = *new std::vector<char*>();
  int n = 0;
  while (environ[n] != nullptr) ++n;
  auto** copy = static_cast<char**>(std::calloc(n + 1, sizeof(char*)));
  if (copy == nullptr) return;
  for (int i = 0; i < n; ++i) copies.push_back(copy[i] = strdup(environ[i]));
  copies.push_back(reinterpret_cast<char*>(copy));
  environ = copy;
}

std::string hex_escape(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  return {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
}

// Cuts `s` to `n` bytes without leaving half of a \xNN escape behind.
void cut_escaped(std::string& s, std::size_t n) {
  if (s.size() <= n) return;
  s.resize(n);
  std::size_t slash = s.rfind('\\');
  if (slash != std::string::npos && s.size() - slash < 4) s.resize(slash);
}

// Splits off the text before the next ": ".
bool take_field(std::string_view& rest, std::string_view& field) {
  std::size_t sep = rest.find(": ");
  if (sep == std::string_view::npos) return false;
  field = rest.substr(0, sep);
  rest.remove_prefix(sep + 2);
  return true;
}

// "VERB[ arg][ (N bytes)]" or "IDLE".
void parse_state(std::string_view s, TitleFields& out) {
  if (s.size() > kBytesClose.size() && s.ends_with(kBytesClose)) {
    std::size_t open = s.rfind(kBytesOpen);
    int64_t n = 0;
    const char* first = s.data() + open + kBytesOpen.size();
    const char* last = s.data() + s.size() - kBytesClose.size();
    if (open != std::string_view::npos && std::from_chars(first, last, n).ptr == last) {
      out.bytes = n;
      s = s.substr(0, open);
    }
  }
  std::size_t space = s.find(' ');
  out.state = std::string(s.substr(0, space));
  if (space != std::string_view::npos) out.arg = std::string(s.substr(space + 1));
}

}  // namespace

void proctitle_init(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr) return;
  g_end = contiguous_end(argc, argv);
  g_area = argv[0];
  move_environ();
  // glibc's error messages name the program through these, which point into argv.
  program_invocation_name = strdup(program_invocation_name);
  program_invocation_short_name = strdup(program_invocation_short_name);
}

void proctitle_set(std::string_view title) {
  if (g_area == nullptr || g_end <= g_area) return;
  const std::size_t room = static_cast<std::size_t>(g_end - g_area) - 1;  // keep a NUL
  const std::size_t n = std::min(room, title.size());
  std::memcpy(g_area, title.data(), n);
  std::memset(g_area + n, 0, static_cast<std::size_t>(g_end - g_area) - n);
}

std::string proctitle_escape(std::string_view text, bool field) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '\\' || (field && c == ':'))
      out += hex_escape(c);
    else
      out += ch;
  }
  return out;
}

std::string proctitle_user(std::string_view name, bool anonymous) {
  return anonymous ? "<anonymous>" : proctitle_escape(name, true);
}

std::string proctitle_session(std::string_view client, std::string_view user) {
  std::string t(kPrefix);
  t.append(client).append(": ").append(user.empty() ? std::string_view("connected") : user);
  return t;
}

std::string proctitle_worker(std::string_view client, std::string_view user, std::string_view verb,
                             std::string_view arg, int64_t bytes) {
  std::string head = proctitle_session(client, user) + ": ";
  if (verb.empty()) return head + "IDLE";
  head.append(verb);
  std::string tail = bytes < 0 ? "" : std::string(kBytesOpen) + std::to_string(bytes) +
                                          std::string(kBytesClose);
  std::string shown = arg.empty() ? "" : " " + proctitle_escape(arg);
  // A long path is cut, not the byte count after it.
  const std::size_t room = g_end > g_area ? static_cast<std::size_t>(g_end - g_area) - 1 : 0;
  if (room > head.size() + tail.size()) cut_escaped(shown, room - head.size() - tail.size());
  return head + shown + tail;
}

bool proctitle_parse(std::string_view title, TitleFields& out) {
  if (!title.starts_with(kPrefix)) return false;
  std::string_view rest = title.substr(kPrefix.size());
  std::string_view client, user;
  if (!take_field(rest, client)) return false;  // helper titles: no state field
  if (!take_field(rest, user)) return false;
  out.user = std::string(user);
  parse_state(rest, out);
  return true;
}

}  // namespace moat
