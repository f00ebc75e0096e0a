// SPDX-License-Identifier: GPL-2.0-or-later
// Looking up system users and groups (helper side, before any chroot).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/common/util.hpp"

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
// The passwd entry, with the primary group as the only group: for the service
// accounts (nopriv_user, ftp_username, chown_username) that run with that group
// alone, so no getgrouplist walk through every NSS group source per session.
Result<UserInfo> user_account(const std::string& name);

// Reads a file of user names (one per line, '#' comments, blank lines ignored).
Result<std::vector<std::string>> read_name_list(const std::string& path);

}  // namespace moat
