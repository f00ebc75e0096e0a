// SPDX-License-Identifier: GPL-2.0-or-later
// Looking up system users and groups (helper side, before any chroot).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/util.hpp"

namespace moat {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
  std::vector<gid_t> groups;  // supplementary groups, primary included
};

Result<UserInfo> user_lookup(const std::string& name);

// Reads a file of user names (one per line, '#' comments, blank lines ignored).
Result<std::vector<std::string>> read_name_list(const std::string& path);

}  // namespace moat
