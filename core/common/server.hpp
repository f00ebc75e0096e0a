// SPDX-License-Identifier: GPL-2.0-or-later
// What the master prepares from a Config before any fork: files read once (banner,
// user lists), resolved addresses and log descriptors. Immutable once built.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "core/common/address_list.hpp"
#include "core/common/config.hpp"
#include "core/common/filter.hpp"
#include "core/common/util.hpp"
#include "core/common/users.hpp"

typedef struct ssl_ctx_st SSL_CTX;  // <openssl/ssl.h>, for users that need no more of it

namespace moat {

struct ServerContext {
  Config cfg;
  std::string greeting;                 // complete 220 reply, CRLF-terminated
  std::set<std::string> userlist;       // userlist_enable
  std::set<std::string> chroot_list;    // chroot_list_enable
  std::set<std::string> banned_emails;  // deny_email_enable: anonymous passwords refused
  std::set<std::string> email_passwords;  // secure_email_list_enable: the only ones accepted
  FilterPattern deny_file;              // parsed deny_file (empty: none)
  FilterPattern hide_file;              // parsed hide_file (empty: none)
  FilterPattern download_file;          // parsed download_file (empty: any name)
  FilterPattern upload_file;            // parsed upload_file (empty: any name)
  std::optional<in_addr> pasv_address;  // pasv_address, resolved
  // net.ipv4.ip_local_port_range, read here because a worker's chroot has no /proc:
  // passive ports come from it when no pasv_min_port..pasv_max_port is set.
  std::pair<unsigned, unsigned> ephemeral_ports{32768, 60999};
  AddressList proxy_from;               // proxy_protocol_from, parsed
  int xferlog_fd = -1;                  // wu-ftpd format log, or -1
  int vsftpd_log_fd = -1;               // vsftpd format log, or -1
  bool syslog = false;                  // the vsftpd-format log goes to syslog(3) instead
  int json_log_fd = -1;                 // json_log_file, or -1
  // nopriv_user's passwd entry, looked up with the configuration (SIGHUP refreshes
  // it) rather than once per connection.
  UserInfo nopriv;
  // ssl_enable=YES: certificate, key and ticket keys (core/tls/tls.hpp); shared by fork
  // with every session, so data connections can resume the control session.
  std::shared_ptr<SSL_CTX> tls;

  ~ServerContext();
  bool vsftpd_log_enabled() const { return vsftpd_log_fd >= 0 || syslog; }
  // Whether a session's events are written anywhere (the helper's SessionLog).
  bool session_log_enabled() const {
    return vsftpd_log_enabled() || xferlog_fd >= 0 || json_log_fd >= 0;
  }
};

// Reads the files the config names and checks what must exist (secure_chroot_dir,
// nopriv_user, the TLS certificate and key with ssl_enable=YES). With open_logs the log files are opened (created 0600, appended).
Result<std::shared_ptr<const ServerContext>> server_prepare(Config cfg, bool open_logs);

// "220-line\r\n...220 last\r\n" from banner text; a default without any version.
std::string format_greeting(const Config& cfg, const std::string& banner_text);

}  // namespace moat
