// SPDX-License-Identifier: GPL-2.0-or-later
// Linux-PAM login in the root helper: authenticate, check the account, establish
// credentials and (optionally) open a session; undo all of it when the login ends.
#include "privsep/pam_auth.hpp"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace moat {

// The conversation's private state: the password PAM's modules ask for. It stays
// at a fixed address (PAM keeps a pointer to it) and is wiped as soon as
// authentication is over, so later prompts get no answer.
struct PamLogin::Conv {
  std::string password;
  bool spent = false;

  explicit Conv(std::string p) : password(std::move(p)) {}
  Conv(const Conv&) = delete;
  Conv& operator=(const Conv&) = delete;
  ~Conv() { wipe(); }

  void wipe() {
    explicit_bzero(password.data(), password.size());
    password.clear();
    spent = true;
  }

  static int converse(int n, const pam_message** msg, pam_response** resp, void* data);
};

namespace {

void free_replies(pam_response* replies, int n) {
  for (int i = 0; i < n; ++i) {
    if (replies[i].resp == nullptr) continue;
    explicit_bzero(replies[i].resp, std::strlen(replies[i].resp));
    std::free(replies[i].resp);
  }
  std::free(replies);
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// Ends a handle after a failed step; the error names the step and PAM's reason,
// for the log only (the client is told just "Login incorrect.").
Error pam_failure(pam_handle_t* pamh, const char* step, int rc) {
  std::string msg = std::string(step) + ": " + pam_strerror(pamh, rc);
  if (pamh != nullptr) pam_end(pamh, rc);
  return fail(std::move(msg));
}

int set_items(pam_handle_t* pamh, const std::string& rhost) {
  if (!rhost.empty()) {
    const int rc = pam_set_item(pamh, PAM_RHOST, rhost.c_str());
    if (rc != PAM_SUCCESS) return rc;
  }
  // Like vsftpd: modules such as pam_time and pam_access match on the tty "ftp".
  return pam_set_item(pamh, PAM_TTY, "ftp");
}

}  // namespace

// Replies are calloc'ed and strdup'ed because PAM frees them with free().
int PamLogin::Conv::converse(int n, const pam_message** msg, pam_response** resp, void* data) {
  if (n <= 0 || n > PAM_MAX_NUM_MSG || msg == nullptr || resp == nullptr || data == nullptr) {
    return PAM_CONV_ERR;
  }
  const auto* self = static_cast<const Conv*>(data);
  auto* replies =
      static_cast<pam_response*>(std::calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    const int style = msg[i]->msg_style;
    if (style == PAM_TEXT_INFO || style == PAM_ERROR_MSG) continue;
    const bool prompt = style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON;
    if (!prompt || self->spent) {
      free_replies(replies, n);
      return PAM_CONV_ERR;
    }
    replies[i].resp = strdup(self->password.c_str());
    if (replies[i].resp == nullptr) {
      free_replies(replies, n);
      return PAM_BUF_ERR;
    }
  }
  *resp = replies;
  return PAM_SUCCESS;
}

Result<PamLogin> PamLogin::start(const PamRequest& req) {
  if (has_nul(req.service) || has_nul(req.user) || has_nul(req.password) || has_nul(req.rhost)) {
    return fail("pam: NUL byte in login request");
  }
  PamLogin login;
  login.conv_ = std::make_unique<Conv>(req.password);
  const pam_conv conv{&Conv::converse, login.conv_.get()};
  pam_handle_t* pamh = nullptr;
  int rc = pam_start(req.service.c_str(), req.user.c_str(), &conv, &pamh);
  if (rc != PAM_SUCCESS) return pam_failure(pamh, "pam_start", rc);
  if ((rc = set_items(pamh, req.rhost)) != PAM_SUCCESS)
    return pam_failure(pamh, "pam_set_item", rc);
  rc = pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
  login.conv_->wipe();
  if (rc != PAM_SUCCESS) return pam_failure(pamh, "pam_authenticate", rc);
  if ((rc = pam_acct_mgmt(pamh, 0)) != PAM_SUCCESS) return pam_failure(pamh, "pam_acct_mgmt", rc);
  if ((rc = pam_setcred(pamh, PAM_ESTABLISH_CRED)) != PAM_SUCCESS) {
    return pam_failure(pamh, "pam_setcred", rc);
  }
  if (req.open_session && (rc = pam_open_session(pamh, 0)) != PAM_SUCCESS) {
    pam_setcred(pamh, PAM_DELETE_CRED);
    return pam_failure(pamh, "pam_open_session", rc);
  }
  // From here the destructor undoes the session and credentials.
  login.pamh_ = pamh;
  login.session_open_ = req.open_session;
  const void* item = nullptr;
  rc = pam_get_item(pamh, PAM_USER, &item);
  if (rc != PAM_SUCCESS || item == nullptr) return fail("pam_get_item(PAM_USER) failed");
  login.user_ = static_cast<const char*>(item);
  return login;
}

PamLogin::PamLogin(PamLogin&& o) noexcept
    : pamh_(std::exchange(o.pamh_, nullptr)),
      conv_(std::move(o.conv_)),
      user_(std::move(o.user_)),
      session_open_(std::exchange(o.session_open_, false)) {}

PamLogin& PamLogin::operator=(PamLogin&& o) noexcept {
  if (this == &o) return *this;
  PamLogin previous(std::move(*this));  // ends our old login when it goes out of scope
  pamh_ = std::exchange(o.pamh_, nullptr);
  conv_ = std::move(o.conv_);
  user_ = std::move(o.user_);
  session_open_ = std::exchange(o.session_open_, false);
  return *this;
}

PamLogin::~PamLogin() {
  if (pamh_ == nullptr) return;
  int rc = PAM_SUCCESS;
  if (session_open_) rc = pam_close_session(pamh_, 0);
  const int cred = pam_setcred(pamh_, PAM_DELETE_CRED);
  pam_end(pamh_, rc != PAM_SUCCESS ? rc : cred);
}

}  // namespace moat
