// SPDX-License-Identifier: GPL-2.0-or-later
// Linux-PAM login in the root helper: authenticate, check the account, establish
// credentials and (optionally) open a session; undo all of it when the login ends.
#include "privsep/pam_auth.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "privsep/dl_symbol.hpp"

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

// libpam and what it pulls in (libaudit, libcap-ng) are loaded by the helper at its
// first local login, not linked: a session that never authenticates a local user
// (every anonymous one) does not map them. Linked, their 15 mappings were copied by
// each of a login's three forks and torn down by each exit, about 20 us a process here.
// PAM's modules name libpam.so.0 themselves, so they find this same copy.
constexpr char kLibPam[] = "libpam.so.0";

struct PamApi {
  decltype(&::pam_start) start;
  decltype(&::pam_end) end;
  decltype(&::pam_set_item) set_item;
  decltype(&::pam_get_item) get_item;
  decltype(&::pam_authenticate) authenticate;
  decltype(&::pam_acct_mgmt) acct_mgmt;
  decltype(&::pam_setcred) setcred;
  decltype(&::pam_open_session) open_session;
  decltype(&::pam_close_session) close_session;
  decltype(&::pam_strerror) strerror;
};

PamApi g_pam{};

// The libraries loaded with dlopen, for packaging tools that read the FDO
// ".note.dlopen" ELF note (systemd's ELF dlopen metadata): libpam here, libwrap
// (privsep/libwrap.cpp) for tcp_wrappers=YES.
constexpr char kDlopenJson[] =
    R"J([{"feature":"pam","description":"local logins (Linux-PAM)",)J"
    R"J("priority":"required","soname":["libpam.so.0"]},)J"
    R"J({"feature":"tcp-wrappers","description":"tcp_wrappers=YES",)J"
    R"J("priority":"suggested","soname":["libwrap.so.0"]}])J";

struct alignas(4) DlopenNote {
  uint32_t namesz = 4;
  uint32_t descsz = sizeof desc;
  uint32_t type = 0x407c0c0a;  // the FDO dlopen note
  char name[4] = {'F', 'D', 'O', '\0'};
  char desc[(sizeof kDlopenJson + 3) & ~size_t{3}] = {};

  constexpr DlopenNote() {
    for (size_t i = 0; i < sizeof kDlopenJson; ++i) desc[i] = kDlopenJson[i];
  }
};

[[gnu::section(".note.dlopen"), gnu::used]] alignas(4) constexpr DlopenNote kDlopenNote{};

Status load_pam() {
  if (g_pam.start != nullptr) return Ok{};
  void* lib = dlopen(kLibPam, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return fail(std::string("pam: ") + dlerror());
  PamApi api{};
  const bool all = dl_symbol(lib, "pam_start", api.start) &&
                   dl_symbol(lib, "pam_end", api.end) &&
                   dl_symbol(lib, "pam_set_item", api.set_item) &&
                   dl_symbol(lib, "pam_get_item", api.get_item) &&
                   dl_symbol(lib, "pam_authenticate", api.authenticate) &&
                   dl_symbol(lib, "pam_acct_mgmt", api.acct_mgmt) &&
                   dl_symbol(lib, "pam_setcred", api.setcred) &&
                   dl_symbol(lib, "pam_open_session", api.open_session) &&
                   dl_symbol(lib, "pam_close_session", api.close_session) &&
                   dl_symbol(lib, "pam_strerror", api.strerror);
  if (!all) {
    dlclose(lib);
    return fail(std::string("pam: ") + kLibPam + " lacks a symbol");
  }
  g_pam = api;
  return Ok{};
}

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
  std::string msg = std::string(step) + ": " + g_pam.strerror(pamh, rc);
  if (pamh != nullptr) g_pam.end(pamh, rc);
  return fail(std::move(msg));
}

int set_items(pam_handle_t* pamh, const std::string& rhost) {
  if (!rhost.empty()) {
    const int rc = g_pam.set_item(pamh, PAM_RHOST, rhost.c_str());
    if (rc != PAM_SUCCESS) return rc;
  }
  // Like vsftpd: modules such as pam_time and pam_access match on the tty "ftp".
  return g_pam.set_item(pamh, PAM_TTY, "ftp");
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
  if (auto st = load_pam(); !st) return fail(st.error());
  PamLogin login;
  login.conv_ = std::make_unique<Conv>(req.password);
  const pam_conv conv{&Conv::converse, login.conv_.get()};
  pam_handle_t* pamh = nullptr;
  int rc = g_pam.start(req.service.c_str(), req.user.c_str(), &conv, &pamh);
  if (rc != PAM_SUCCESS) return pam_failure(pamh, "pam_start", rc);
  if ((rc = set_items(pamh, req.rhost)) != PAM_SUCCESS)
    return pam_failure(pamh, "pam_set_item", rc);
  rc = g_pam.authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
  login.conv_->wipe();
  if (rc != PAM_SUCCESS) return pam_failure(pamh, "pam_authenticate", rc);
  if ((rc = g_pam.acct_mgmt(pamh, 0)) != PAM_SUCCESS) return pam_failure(pamh, "pam_acct_mgmt", rc);
  if ((rc = g_pam.setcred(pamh, PAM_ESTABLISH_CRED)) != PAM_SUCCESS) {
    return pam_failure(pamh, "pam_setcred", rc);
  }
  if (req.open_session && (rc = g_pam.open_session(pamh, 0)) != PAM_SUCCESS) {
    g_pam.setcred(pamh, PAM_DELETE_CRED);
    return pam_failure(pamh, "pam_open_session", rc);
  }
  // From here the destructor undoes the session and credentials.
  login.pamh_ = pamh;
  login.session_open_ = req.open_session;
  const void* item = nullptr;
  rc = g_pam.get_item(pamh, PAM_USER, &item);
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
  if (session_open_) rc = g_pam.close_session(pamh_, 0);
  const int cred = g_pam.setcred(pamh_, PAM_DELETE_CRED);
  g_pam.end(pamh_, rc != PAM_SUCCESS ? rc : cred);
}

}  // namespace moat
