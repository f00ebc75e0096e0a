// SPDX-License-Identifier: GPL-2.0-or-later
// The master's own lines (start-up and reload errors, modules' host->log): on stderr
// as always, and in the logs the configuration names, so that with background=YES,
// where stderr is /dev/null, they still reach the operator.
#pragma once

#include <string_view>

namespace moat {

struct ServerContext;

// The master binds its current context (again after each reload); session processes
// leave it unbound and write to stderr only, which their helper relays.
void server_log_bind(const ServerContext* ctx);

// "moatftpd: TEXT" on stderr; in the vsftpd-format log as "DATE [pid N] moatftpd: TEXT"
// (syslog: priority err when `error`, else info) and as a "server" event in
// json_log_file.
void server_log(std::string_view text, bool error = false);

}  // namespace moat
