// SPDX-License-Identifier: GPL-2.0-or-later
// The system checks behind moatftpd -t (config_check.hpp). Each check looks at the
// options one feature uses only when that feature is on, so an unused default (vsftpd's
// /var/log/xferlog with logging off) is never an error.
#include "core/master/config_check.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/tls/tls.hpp"
#include "core/common/util.hpp"
#include "core/common/users.hpp"

namespace moat {
namespace {

class Checker {
 public:
  explicit Checker(const Config& c) : c_(c) {}

  // Where `name` was set, for the message's prefix.
  std::string where(const std::string& name, const std::string& value) const {
    auto it = c_.origins.find(name);
    if (it != c_.origins.end()) return it->second;
    const std::string file = c_.source_file.empty() ? "(built-in defaults)" : c_.source_file;
    return file + ": " + name + "=" + value + " (default)";
  }
  // "WHERE: NAME: what", or "WHERE: what" when what already starts with the name.
  void error(const std::string& name, const std::string& value, const std::string& what) {
    const bool named = what.starts_with(name) || !c_.origins.contains(name);
    errors_.push_back(where(name, value) + ": " + (named ? what : name + ": " + what));
  }
  void error_as_is(std::string what) { errors_.push_back(std::move(what)); }
  const Config& cfg() const { return c_; }
  std::vector<std::string> take() { return std::move(errors_); }

 private:
  const Config& c_;
  std::vector<std::string> errors_;
};

// listen_address(6): an address of the right family that this host could bind (port 0,
// so a running server's own port does not make the check fail).
void check_address(Checker& ck, const char* name, const std::string& text, int family) {
  if (text.empty()) return;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) != 1)
      return ck.error(name, text, "'" + text + "' is not an IPv4 address");
    len = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) != 1)
      return ck.error(name, text, "'" + text + "' is not an IPv6 address");
    len = sizeof *sin6;
  }
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ck.error(name, text, "socket: " + errno_text(errno));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    ck.error(name, text, "cannot bind " + text + ": " + errno_text(errno));
}

// A file the server creates or appends to: its directory must exist and be writable.
void check_parent_writable(Checker& ck, const char* name, const std::string& path) {
  if (path.empty()) return;
  if (path[0] != '/') return ck.error(name, path, "must be an absolute path");
  const std::string dir = path.substr(0, std::max<std::size_t>(path.rfind('/'), 1));
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return ck.error(name, path, dir + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode)) return ck.error(name, path, dir + " is not a directory");
  if (access(dir.c_str(), W_OK) != 0) ck.error(name, path, dir + " is not writable");
}

void check_logs(Checker& ck) {
  const Config& c = ck.cfg();
  if (!c.json_log_file.empty()) check_parent_writable(ck, "json_log_file", c.json_log_file);
  if (!c.xferlog_enable && !c.dual_log_enable) return;
  if (c.xferlog_std_format || c.dual_log_enable)
    check_parent_writable(ck, "xferlog_file", c.xferlog_file);
  if ((!c.xferlog_std_format || c.dual_log_enable) && !c.syslog_enable)
    check_parent_writable(ck, "vsftpd_log_file", c.vsftpd_log_file);
}

// A directory a session is chrooted to or starts in.
Result<struct stat> existing_dir(const std::string& dir) {
  struct stat st {};
  if (dir.empty() || dir[0] != '/') return fail("must be an absolute path");
  if (stat(dir.c_str(), &st) != 0) return fail(dir + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode)) return fail(dir + " is not a directory");
  return st;
}

void check_secure_chroot(Checker& ck) {
  const std::string& dir = ck.cfg().secure_chroot_dir;
  auto st = existing_dir(dir);
  if (!st) return ck.error("secure_chroot_dir", dir, st.error());
  if (st->st_uid != 0 || (st->st_mode & 0022))
    ck.error("secure_chroot_dir", dir,
             dir + " must be owned by root and not writable by group or others");
}

Result<UserInfo> check_user(Checker& ck, const char* name, const std::string& user) {
  auto info = user_account(user);
  if (!info) ck.error(name, user, info.error());
  return info;
}

// vsftpd refuses an anonymous chroot its user can write to.
void check_anon_root(Checker& ck, const Result<UserInfo>& ftp) {
  const Config& c = ck.cfg();
  const bool set = !c.anon_root.empty();
  if (!set && !ftp) return;
  const std::string dir = set ? c.anon_root : ftp->home;
  const char* name = set ? "anon_root" : "ftp_username";
  auto st = existing_dir(dir);
  if (!st) return ck.error(name, set ? dir : c.ftp_username, "anonymous root " + st.error());
  if (!ftp || c.allow_writeable_chroot) return;
  const bool writable = st->st_uid == ftp->uid   ? (st->st_mode & S_IWUSR)
                        : st->st_gid == ftp->gid ? (st->st_mode & S_IWGRP)
                                                 : (st->st_mode & S_IWOTH);
  if (writable)
    ck.error(name, set ? dir : c.ftp_username,
             "anonymous root " + dir + " is writable by " + c.ftp_username +
                 ": every anonymous login would be refused (chmod a-w, or "
                 "allow_writeable_chroot=YES)");
}

// local_root with user_sub_token differs per user: only its fixed part can be checked.
void check_local_root(Checker& ck) {
  const Config& c = ck.cfg();
  if (c.local_root.empty()) return;
  std::string dir = c.local_root;
  if (!c.user_sub_token.empty() && dir.find(c.user_sub_token) != std::string::npos) {
    dir = dir.substr(0, dir.find(c.user_sub_token));
    dir = dir.substr(0, std::max<std::size_t>(dir.rfind('/'), 1));
  }
  if (auto st = existing_dir(dir); !st) ck.error("local_root", c.local_root, st.error());
}

// Linux-PAM reads /etc/pam.d/NAME, else the vendor directory; without the file every
// local login goes to the 'other' service (on Debian: refused). A system configured
// through /etc/pam.conf instead has no /etc/pam.d, and is not checked.
void check_pam_service(Checker& ck, const std::string& name) {
  const std::string file = "/etc/pam.d/" + name;
  if (name.empty() || access("/etc/pam.d", F_OK) != 0) return;
  if (access(file.c_str(), R_OK) == 0 || access(("/usr/lib/pam.d/" + name).c_str(), R_OK) == 0)
    return;
  ck.error("pam_service_name", name,
           file + ": " + errno_text(errno) + " (PAM would use its 'other' service)");
}

void check_users(Checker& ck) {
  const Config& c = ck.cfg();
  check_user(ck, "nopriv_user", c.nopriv_user);
  if (c.anonymous_enable) check_anon_root(ck, check_user(ck, "ftp_username", c.ftp_username));
  if (c.local_enable) check_local_root(ck);
  if (c.local_enable && c.guest_enable) check_user(ck, "guest_username", c.guest_username);
  if (c.local_enable) check_pam_service(ck, c.pam_service_name);
}

// A file the master reads at start-up.
void check_readable(Checker& ck, bool used, const char* name, const std::string& path) {
  if (used && access(path.c_str(), R_OK) != 0)
    ck.error(name, path, path + ": " + errno_text(errno));
}

void check_files(Checker& ck) {
  const Config& c = ck.cfg();
  check_readable(ck, !c.banner_file.empty(), "banner_file", c.banner_file);
  check_readable(ck, c.userlist_enable, "userlist_file", c.userlist_file);
  check_readable(ck, c.chroot_list_enable, "chroot_list_file", c.chroot_list_file);
  check_readable(ck, c.deny_email_enable, "banned_email_file", c.banned_email_file);
  check_readable(ck, c.secure_email_list_enable, "email_password_file", c.email_password_file);
  check_parent_writable(ck, "pid_file", c.pid_file);
  check_parent_writable(ck, "control_socket", c.control_socket);
}

// Certificate and key: loaded exactly as start-up loads them. The message starts with
// the option it is about.
void check_tls(Checker& ck) {
  const Config& c = ck.cfg();
  for (const auto& [name, value] : {std::pair{"dsa_cert_file", &c.dsa_cert_file},
                                    std::pair{"dsa_private_key_file", &c.dsa_private_key_file}})
    if (!value->empty())
      ck.error(name, *value,
               "DSA certificates are not supported: use rsa_cert_file (RSA or ECDSA)");
  if (!c.ssl_enable) return;
  auto tls = tls_server_context(c);
  if (tls) return;
  const std::string& e = tls.error();
  if (e.starts_with("rsa_private_key_file") && !c.rsa_private_key_file.empty())
    return ck.error("rsa_private_key_file", c.rsa_private_key_file, e);
  ck.error("rsa_cert_file", c.rsa_cert_file, e);
}

// Every user's file must load: a broken one refuses that user's logins.
void check_user_config_dir(Checker& ck) {
  const Config& c = ck.cfg();
  if (c.user_config_dir.empty()) return;
  auto st = existing_dir(c.user_config_dir);
  if (!st) return ck.error("user_config_dir", c.user_config_dir, st.error());
  DIR* dir = opendir(c.user_config_dir.c_str());
  if (dir == nullptr) return ck.error("user_config_dir", c.user_config_dir, errno_text(errno));
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    Config copy = c;
    if (auto ok = config_apply_user_file(copy, c.user_config_dir + "/" + name); !ok)
      ck.error_as_is(ok.error());  // already "FILE:LINE: message"
  }
}

}  // namespace

std::vector<std::string> config_check(const Config& cfg) {
  Checker ck(cfg);
  if (cfg.listen) check_address(ck, "listen_address", cfg.listen_address, AF_INET);
  if (cfg.listen_ipv6) check_address(ck, "listen_address6", cfg.listen_address6, AF_INET6);
  check_logs(ck);
  check_secure_chroot(ck);
  check_users(ck);
  check_files(ck);
  check_tls(ck);
  check_user_config_dir(ck);
  return ck.take();
}

}  // namespace moat
