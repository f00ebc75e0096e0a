// SPDX-License-Identifier: GPL-2.0-or-later
// Linux-PAM for local logins, run only in the root session helper.
#pragma once

#include <security/pam_appl.h>

#include <memory>
#include <string>

#include "core/common/util.hpp"

namespace moat {

struct PamRequest {
  std::string service;  // pam_service_name
  std::string user;
  std::string password;
  std::string rhost;    // client address, for PAM_RHOST
  bool open_session = false;  // session_support
};

// A successful authentication; closes the PAM session and ends the handle when
// destroyed. pam_authenticate, pam_acct_mgmt, pam_setcred and (optionally)
// pam_open_session all succeeded.
class PamLogin {
 public:
  static Result<PamLogin> start(const PamRequest& req);
  PamLogin(PamLogin&&) noexcept;
  PamLogin& operator=(PamLogin&&) noexcept;
  ~PamLogin();
  // The user name PAM settled on (PAM_USER may be mapped by a module).
  const std::string& user() const { return user_; }

 private:
  PamLogin() = default;
  struct Conv;
  pam_handle_t* pamh_ = nullptr;
  std::unique_ptr<Conv> conv_;
  std::string user_;
  bool session_open_ = false;
};

}  // namespace moat
