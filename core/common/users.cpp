// SPDX-License-Identifier: GPL-2.0-or-later
// System user lookups for the helper (passwd entry and group list) and the simple
// one-name-per-line lists behind userlist_file / chroot_list_file / ftpusers.
#include "core/common/users.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace moat {

namespace {

constexpr size_t kMaxPwBuffer = 1 << 20;  // a passwd entry bigger than this is broken
constexpr int kMaxGroups = 65536;         // NGROUPS_MAX on Linux

Result<UserInfo> lookup_passwd(const std::string& name) {
  std::vector<char> buf(1024);
  passwd pw{};
  passwd* found = nullptr;
  for (;;) {
    const int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < kMaxPwBuffer) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) return fail("looking up user '" + name + "': " + errno_text(rc));
    if (found == nullptr) return fail("unknown user '" + name + "'");
    return UserInfo{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir, pw.pw_shell, {}};
  }
}

Result<std::vector<gid_t>> lookup_groups(const std::string& name, gid_t primary) {
  std::vector<gid_t> groups(32);
  for (;;) {
    int n = static_cast<int>(groups.size());
    if (getgrouplist(name.c_str(), primary, groups.data(), &n) != -1) {
      groups.resize(static_cast<size_t>(n));
      return groups;
    }
    // n now holds the count needed; some NSS back ends leave it unchanged, so at
    // least double.
    const size_t want = std::max(static_cast<size_t>(n), groups.size() * 2);
    if (want > kMaxGroups) return fail("user '" + name + "' is in too many groups");
    groups.resize(want);
  }
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(path + ": " + errno_text(errno));
  std::string text;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n == 0) return text;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(path + ": " + errno_text(errno));
    text.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

Result<UserInfo> user_account(const std::string& name) {
  if (name.empty() || name.find('\0') != std::string::npos) {
    return fail("unknown user '" + name + "'");
  }
  auto info = lookup_passwd(name);
  if (info) info->groups = {info->gid};
  return info;
}

Result<UserInfo> user_lookup(const std::string& name) {
  auto info = user_account(name);
  if (!info) return info;
  auto groups = lookup_groups(name, info->gid);
  if (!groups) return fail(groups.error());
  info->groups = std::move(*groups);
  return info;
}

Result<std::vector<std::string>> read_name_list(const std::string& path) {
  auto text = read_file(path);
  if (!text) return fail(text.error());
  std::vector<std::string> names;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    const std::string_view line = trim(rest.substr(0, eol));
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (line.empty() || line.front() == '#') continue;
    names.emplace_back(line);
  }
  return names;
}

}  // namespace moat
