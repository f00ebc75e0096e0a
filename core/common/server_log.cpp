// SPDX-License-Identifier: GPL-2.0-or-later
// The master's lines in the server's logs (core/common/server_log.hpp).
#include "core/common/server_log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "core/common/json_line.hpp"
#include "core/common/server.hpp"
#include "core/common/xferlog.hpp"

namespace moat {
namespace {

const ServerContext* g_ctx = nullptr;
pid_t g_bound_by = 0;  // a process forked from the master (a module's child) has
                       // closed the log descriptors: their numbers may name its sockets

void append(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

}  // namespace

void server_log_bind(const ServerContext* ctx) {
  g_ctx = ctx;
  g_bound_by = getpid();
}

void server_log(std::string_view text, bool error) {
  const std::string line = "moatftpd: " + std::string(text);
  std::fprintf(stderr, "%s\n", line.c_str());
  if (g_ctx == nullptr || getpid() != g_bound_by) return;
  const ServerContext& c = *g_ctx;
  append(c.vsftpd_log_fd, vsftpd_log_line(time(nullptr), getpid(), "", line, c.cfg.use_localtime));
  if (c.syslog) {
    openlog("moatftpd", LOG_PID | LOG_NDELAY, LOG_FTP);
    syslog(LOG_FTP | (error ? LOG_ERR : LOG_INFO), "%s",
           vsftpd_syslog_text(getpid(), "", line).c_str());
  }
  JsonLine j;
  j.str("time", json_time_now()).str("event", "server").num("pid", static_cast<uint64_t>(getpid()));
  j.str("message", text).boolean("error", error);
  append(c.json_log_fd, j.line());
}

}  // namespace moat
