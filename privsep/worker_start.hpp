// SPDX-License-Identifier: GPL-2.0-or-later
// What the helper tells a worker it starts: data only. The helper fills it in; the
// launcher it is handed (core/master/session_hooks.hpp) runs the FTP session with it.
#pragma once

#include <sys/socket.h>

#include <strings.h>

#include <memory>
#include <string>

#include "core/common/server.hpp"
#include "core/common/userdb.hpp"
#include "privsep/ipc.hpp"

namespace moat {

// What an anonymous session may change, decided at login by the modules' login_rights
// hooks (mod_anon_upload: vsftpd's meanings); all false for local sessions, which
// write_enable governs.
struct AnonRights {
  bool upload = false;  // STOR/STOU of new files
  bool mkdir = false;   // MKD
  bool other = false;   // DELE, RMD, RNFR/RNTO, overwrite, append
  bool any() const { return upload || mkdir || other; }
};

struct WorkerStart {
  const ServerContext* ctx = nullptr;
  int control_fd = -1;
  int helper_fd = -1;          // IPC socket to the session helper
  sockaddr_storage peer{};     // control connection's client address
  sockaddr_storage local{};    // control connection's server address
  std::shared_ptr<const Config> session_cfg;  // post-auth: with user_config_dir applied
  bool logged_in = false;      // post-auth worker
  bool after_rein = false;     // pre-auth worker started again by REIN
  bool implicit_tls = false;   // pre-auth: TLS handshake before the greeting
  std::string pending;         // control bytes read by the previous worker, unhandled
  TlsState tls;
  // Post-auth only:
  std::string user;            // login name (anonymous: the ftp_username)
  bool anonymous = false;      // anonymous rights (anonymous logins, and guests without
                               // virtual_use_local_privs)
  bool guest = false;          // guest_enable: user is the virtual user's login name
  std::string anon_password;   // the anonymous "password" (an e-mail by custom)
  bool chrooted = false;
  bool write_enable = false;   // writes allowed in this session
  AnonRights anon;             // anonymous sessions: which writes (write_enable is any())
  // Account names read before the sandbox (text_userdb_names, tilde_user_enable when
  // not chrooted); null when neither is on.
  std::shared_ptr<const UserDb> userdb;
};

// "anonymous" and "ftp", in any case, as vsftpd.
inline bool is_anonymous_name(const std::string& name) {
  return strcasecmp(name.c_str(), "anonymous") == 0 || strcasecmp(name.c_str(), "ftp") == 0;
}

}  // namespace moat
