// SPDX-License-Identifier: GPL-2.0-or-later
// Tilde expansion of path arguments, as vsftpd's resolve_tilde does it.
#include "core/session/tilde.hpp"

#include <algorithm>
#include <array>

namespace moat {

bool tilde_verb(std::string_view verb) {
  static constexpr auto kVerbs = std::to_array<std::string_view>(
      {"CWD", "XCWD", "MKD", "XMKD", "RMD", "XRMD", "DELE", "RNFR", "RNTO", "RETR", "STOR",
       "APPE", "SIZE", "LIST", "NLST"});
  return std::find(kVerbs.begin(), kVerbs.end(), verb) != kVerbs.end();
}

std::string tilde_expand(const std::string& arg, const std::string& login_dir,
                         const UserDb* users) {
  if (arg.empty() || arg[0] != '~') return arg;
  if (arg.size() == 1 || arg[1] == '/') return login_dir + arg.substr(1);
  if (!users) return arg;
  const std::size_t slash = arg.find('/');
  const std::string name = arg.substr(1, slash == std::string::npos ? slash : slash - 1);
  auto home = users->home_of(name);
  if (!home) return arg;
  return slash == std::string::npos ? *home : *home + arg.substr(slash);
}

}  // namespace moat
