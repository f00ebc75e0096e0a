// SPDX-License-Identifier: GPL-2.0-or-later
// Virtual users as vsftpd has them: guest_enable maps every non-anonymous login to
// guest_username's account, and user_sub_token gives each login its own directory.
#pragma once

#include <string>

#include "core/common/config.hpp"
#include "core/common/util.hpp"
#include "core/common/users.hpp"

namespace moat {

// user_sub_token: every occurrence of the token in text replaced by the login name, as
// vsftpd does for the home directory and local_root; an empty token changes nothing.
std::string substitute_user_token(std::string text, const std::string& token,
                                  const std::string& login);

// guest_enable: the account a guest login runs as. uid, gid and home are
// guest_username's (primary group only, like the anonymous account); the name is the
// login's, so that logs, titles and user_config_dir see who logged in.
Result<UserInfo> guest_account(const Config& cfg, const std::string& login);

// vsftpd: a guest has the rights of an anonymous session unless virtual_use_local_privs.
inline bool guest_is_anonymous(const Config& cfg) { return !cfg.virtual_use_local_privs; }

}  // namespace moat
