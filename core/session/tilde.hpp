// SPDX-License-Identifier: GPL-2.0-or-later
// vsftpd's tilde expansion of path arguments: "~" and "~/x" are the login directory,
// "~user[/x]" that user's home when tilde_user_enable lets it resolve.
#pragma once

#include <string>
#include <string_view>

#include "core/common/userdb.hpp"

namespace moat {

// The commands whose argument vsftpd 3.0.3 expands (not MDTM, for instance).
bool tilde_verb(std::string_view verb);

// `arg` with a leading tilde expanded. `users` null: ~user is left as written (the
// option is off, or the session is chrooted, where vsftpd resolves it only if the
// jail holds its own /etc/passwd). An unknown user is left as written too.
std::string tilde_expand(const std::string& arg, const std::string& login_dir,
                         const UserDb* users);

}  // namespace moat
