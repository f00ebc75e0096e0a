// SPDX-License-Identifier: GPL-2.0-or-later
// guest_enable, guest_username and user_sub_token (vsftpd.conf(5)).
#include "privsep/guest.hpp"

namespace moat {

std::string substitute_user_token(std::string text, const std::string& token,
                                  const std::string& login) {
  if (token.empty()) return text;
  for (std::size_t at = text.find(token); at != std::string::npos;
       at = text.find(token, at + login.size())) {
    text.replace(at, token.size(), login);
  }
  return text;
}

Result<UserInfo> guest_account(const Config& cfg, const std::string& login) {
  auto account = user_account(cfg.guest_username);
  if (!account) return fail("guest_username: " + account.error());
  account->name = login;
  return account;
}

}  // namespace moat
