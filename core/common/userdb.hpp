// SPDX-License-Identifier: GPL-2.0-or-later
// The account names a post-login worker may show or resolve (text_userdb_names,
// tilde_user_enable), read by the helper before the worker is chrooted and filtered:
// NSS cannot run inside the sandbox, so the worker only ever reads this copy.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

namespace moat {

struct UserDb {
  std::unordered_map<uid_t, std::string> users;        // uid -> name
  std::unordered_map<gid_t, std::string> groups;       // gid -> name
  std::unordered_map<std::string, std::string> homes;  // name -> home (tilde_user_enable)

  const std::string* user_name(uid_t uid) const;
  const std::string* group_name(gid_t gid) const;
  std::optional<std::string> home_of(const std::string& name) const;
};

// What to read: names for listings, homes for ~user. Each database is read for at most
// kUserDbMaxEntries entries: a huge directory service is cut short, not copied whole.
struct UserDbWants {
  bool names = false;
  bool homes = false;
};
inline constexpr std::size_t kUserDbMaxEntries = 65536;

// Reads the password and group databases through NSS (getpwent/getgrent); call only
// where NSS works, i.e. outside any sandbox.
UserDb userdb_load(UserDbWants wants);

}  // namespace moat
