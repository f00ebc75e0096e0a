// SPDX-License-Identifier: GPL-2.0-or-later
// Builds the ServerContext: everything a session needs that must be read before
// chroot, done once in the master (and again on SIGHUP).
#include "config.h"
#include "core/common/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/tls/tls.hpp"
#include "privsep/libwrap.hpp"
#include "core/common/users.hpp"

namespace moat {
namespace {

constexpr size_t kMaxBannerBytes = 64 * 1024;

// The kernel's ephemeral ports ("32768\t60999"), or its default when unreadable.
std::pair<unsigned, unsigned> ephemeral_port_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 0, hi = 0;
  if (in >> lo >> hi && lo >= 1024 && lo <= hi && hi <= 65535) return {lo, hi};
  return {32768, 60999};
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": " + errno_text(errno));
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  if (text.size() > kMaxBannerBytes) return fail(path + ": larger than 64 KiB");
  return text;
}

Result<std::set<std::string>> read_set(const std::string& path) {
  auto names = read_name_list(path);
  if (!names) return fail(names.error());
  return std::set<std::string>(names->begin(), names->end());
}

// The anonymous password lists (vsftpd reads them once too): one entry per line.
Status read_email_lists(ServerContext& ctx) {
  const Config& c = ctx.cfg;
  if (c.deny_email_enable) {
    auto s = read_set(c.banned_email_file);
    if (!s) return fail("banned_email_file (deny_email_enable=YES): " + s.error());
    ctx.banned_emails = std::move(*s);
  }
  if (c.secure_email_list_enable) {
    auto s = read_set(c.email_password_file);
    if (!s) return fail("email_password_file (secure_email_list_enable=YES): " + s.error());
    ctx.email_passwords = std::move(*s);
  }
  return Ok{};
}

Status parse_filters(ServerContext& ctx) {
  const Config& c = ctx.cfg;
  const std::pair<const char*, std::pair<const std::string*, FilterPattern*>> filters[] = {
      {"deny_file", {&c.deny_file, &ctx.deny_file}},
      {"hide_file", {&c.hide_file, &ctx.hide_file}},
      {"download_file", {&c.download_file, &ctx.download_file}},
      {"upload_file", {&c.upload_file, &ctx.upload_file}},
  };
  for (const auto& [name, slots] : filters) {
    auto parsed = filter_parse(*slots.first);
    if (!parsed) return fail(std::string(name) + "=" + *slots.first + ": " + parsed.error());
    *slots.second = std::move(*parsed);
  }
  return Ok{};
}

Status check_secure_chroot_dir(const std::string& dir) {
  struct stat st {};
  if (dir.empty() || dir[0] != '/') return fail("secure_chroot_dir must be an absolute path");
  if (stat(dir.c_str(), &st) != 0)
    return fail("secure_chroot_dir " + dir + ": " + errno_text(errno) +
                " (create it: an empty directory owned by root, mode 0755)");
  if (!S_ISDIR(st.st_mode)) return fail("secure_chroot_dir " + dir + " is not a directory");
  if (st.st_uid != 0 || (st.st_mode & 0022))
    return fail("secure_chroot_dir " + dir + " must be owned by root and not group/world writable");
  return Ok{};
}

Result<in_addr> resolve_pasv_address(const Config& cfg) {
  in_addr addr{};
  if (inet_pton(AF_INET, cfg.pasv_address.c_str(), &addr) == 1) return addr;
  if (!cfg.pasv_addr_resolve)
    return fail("pasv_address " + cfg.pasv_address +
                " is not an IPv4 address (set pasv_addr_resolve=YES for a host name)");
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(cfg.pasv_address.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail("pasv_address " + cfg.pasv_address + ": " + gai_strerror(rc));
  addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return addr;
}

Result<int> open_log(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return fail("log file " + path + ": " + errno_text(errno));
  return fd;
}

// vsftpd's facility and options, with our name: "moatftpd[PID]: [pid N] [user] ...".
// LOG_NDELAY connects now, while the process can still reach /dev/log.
void open_syslog() { openlog("moatftpd", LOG_PID | LOG_NDELAY, LOG_FTP); }

// The certificate and key are read here, so start-up, `-t` and SIGHUP all name a
// missing or unreadable file.
Status prepare_tls(ServerContext& ctx) {
  const Config& c = ctx.cfg;
  if (!c.ssl_enable) {
    if (c.implicit_ssl) return fail("implicit_ssl=YES needs ssl_enable=YES");
    return Ok{};
  }
  auto tls = tls_server_context(c);
  if (!tls) return fail(tls.error());
  ctx.tls = std::move(*tls);
  return Ok{};
}

// vsftpd: xferlog_std_format selects the wu-ftpd log; dual_log_enable writes both.
Status open_logs(ServerContext& ctx) {
  const Config& c = ctx.cfg;
  if (!c.json_log_file.empty()) {
    auto fd = open_log(c.json_log_file);
    if (!fd) return fail(fd.error());
    ctx.json_log_fd = *fd;
  }
  if (!c.xferlog_enable && !c.dual_log_enable) return Ok{};
  bool want_xferlog = c.xferlog_std_format || c.dual_log_enable;
  bool want_vsftpd = !c.xferlog_std_format || c.dual_log_enable;
  if (want_xferlog) {
    auto fd = open_log(c.xferlog_file);
    if (!fd) return fail(fd.error());
    ctx.xferlog_fd = *fd;
  }
  if (want_vsftpd && c.syslog_enable) {
    open_syslog();
    ctx.syslog = true;
  } else if (want_vsftpd) {
    auto fd = open_log(c.vsftpd_log_file);
    if (!fd) return fail(fd.error());
    ctx.vsftpd_log_fd = *fd;
  }
  return Ok{};
}

}  // namespace

ServerContext::~ServerContext() {
  if (xferlog_fd >= 0) close(xferlog_fd);
  if (vsftpd_log_fd >= 0) close(vsftpd_log_fd);
  if (json_log_fd >= 0) close(json_log_fd);
}

std::string format_greeting(const Config& cfg, const std::string& banner_text) {
  if (banner_text.empty()) {
    std::string line = cfg.ftpd_banner.empty() ? "FTP server ready." : cfg.ftpd_banner;
    return "220 " + line + "\r\n";
  }
  std::string out;
  std::istringstream in(banner_text);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  if (lines.empty()) lines.emplace_back();
  for (size_t i = 0; i + 1 < lines.size(); ++i) out += "220-" + lines[i] + "\r\n";
  return out + "220 " + lines.back() + "\r\n";
}

Result<std::shared_ptr<const ServerContext>> server_prepare(Config cfg, bool with_logs) {
  auto ctx = std::make_shared<ServerContext>();
  ctx->cfg = std::move(cfg);
  const Config& c = ctx->cfg;
  if (auto st = check_secure_chroot_dir(c.secure_chroot_dir); !st) return fail(st.error());
  auto nopriv = user_account(c.nopriv_user);
  if (!nopriv) return fail("nopriv_user: " + nopriv.error());
  ctx->nopriv = std::move(*nopriv);
  ctx->ephemeral_ports = ephemeral_port_range();
  std::string banner;
  if (!c.banner_file.empty()) {
    auto text = read_small_file(c.banner_file);
    if (!text) return fail("banner_file: " + text.error());
    banner = *text;
  }
  ctx->greeting = format_greeting(c, banner);
  if (c.userlist_enable) {
    auto s = read_set(c.userlist_file);
    if (!s) return fail("userlist_file: " + s.error());
    ctx->userlist = std::move(*s);
  }
  if (c.chroot_list_enable) {
    auto s = read_set(c.chroot_list_file);
    if (!s) return fail("chroot_list_file: " + s.error());
    ctx->chroot_list = std::move(*s);
  }
  if (auto st = read_email_lists(*ctx); !st) return fail(st.error());
  if (auto st = parse_filters(*ctx); !st) return fail(st.error());
  auto proxy_from = AddressList::parse(c.proxy_protocol_from);
  if (!proxy_from) return fail("proxy_protocol_from: " + proxy_from.error());
  ctx->proxy_from = std::move(*proxy_from);
  if (!c.pasv_address.empty()) {
    auto a = resolve_pasv_address(c);
    if (!a) return fail(a.error());
    ctx->pasv_address = *a;
  }
  if (auto st = prepare_tls(*ctx); !st) return fail(st.error());
  if (c.tcp_wrappers)
    if (auto st = wrappers_load(); !st) return fail(st.error());
  if (with_logs) {
    if (auto st = open_logs(*ctx); !st) return fail(st.error());
  }
  return std::shared_ptr<const ServerContext>(std::move(ctx));
}

}  // namespace moat
