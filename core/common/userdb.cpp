// SPDX-License-Identifier: GPL-2.0-or-later
// The bounded uid/gid -> name and name -> home tables behind text_userdb_names and
// tilde_user_enable (userdb.hpp says why they are copied before the sandbox).
#include "core/common/userdb.hpp"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <string_view>

namespace moat {
namespace {

template <typename Map, typename Key>
const std::string* find_name(const Map& map, Key key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

// A name goes into a listing line: one from a directory service with a space or a
// control character (which could forge a line) is left out, so its id stays numeric.
bool listable(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

// The first entry for a uid wins, as getpwuid(3) returns the first match.
void read_passwd(UserDb& db, UserDbWants wants) {
  setpwent();
  std::size_t seen = 0;
  while (const passwd* pw = getpwent()) {
    if (++seen > kUserDbMaxEntries) break;
    if (wants.names && listable(pw->pw_name)) db.users.emplace(pw->pw_uid, pw->pw_name);
    if (wants.homes) db.homes.emplace(pw->pw_name, pw->pw_dir);
  }
  endpwent();
}

void read_group(UserDb& db) {
  setgrent();
  std::size_t seen = 0;
  while (const group* gr = getgrent()) {
    if (++seen > kUserDbMaxEntries) break;
    if (listable(gr->gr_name)) db.groups.emplace(gr->gr_gid, gr->gr_name);
  }
  endgrent();
}

}  // namespace

const std::string* UserDb::user_name(uid_t uid) const { return find_name(users, uid); }

const std::string* UserDb::group_name(gid_t gid) const { return find_name(groups, gid); }

std::optional<std::string> UserDb::home_of(const std::string& name) const {
  auto it = homes.find(name);
  if (it == homes.end()) return std::nullopt;
  return it->second;
}

UserDb userdb_load(UserDbWants wants) {
  UserDb db;
  if (wants.names || wants.homes) read_passwd(db, wants);
  if (wants.names) read_group(db);
  return db;
}

}  // namespace moat
