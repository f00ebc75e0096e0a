// SPDX-License-Identifier: GPL-2.0-or-later
// The LogEvent request: what a worker may say about its session for the log (the
// helper's SessionLog, privsep/log_relay.hpp, writes it). Its layout is below; its strict decoder is fuzzed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/util.hpp"
#include "privsep/ipc.hpp"

namespace moat {

enum class LogKind : uint8_t {
  // log_ftp_protocol: text is the command line or the reply's first line; before
  // login, detail is the name USER gave (vsftpd logs the lines under it).
  kFtpCommand = 1,
  kFtpResponse = 2,
  kTlsFailed = 3,    // the control handshake failed: text is why
  kNote = 4,         // a line of the worker's own (e.g. a refused data connection)
  kTransfer = 5,     // text is the path; the transfer fields below
  // A change to the file system, tried: text is the absolute path, `complete` whether
  // it succeeded (vsftpd's OK/FAIL), detail the new name (RNTO) or the mode (SITE CHMOD).
  kMkdir = 6,
  kRmdir = 7,
  kDelete = 8,
  kRename = 9,  // a failed RNFR has no detail
  kChmod = 10,
  kLoginRefused = 11,  // before PAM (user list, TLS required): text the name, detail why
  kDenied = 12,        // a command refused by policy: text the command line, detail why
};
constexpr uint8_t kLastLogKind = 12;

constexpr size_t kMaxLogText = 4096;

struct LogRequest {
  LogKind kind{};
  std::string text;
  std::string detail;
  bool upload = false;
  bool ascii = false;
  bool complete = false;
  uint64_t bytes = 0;
  uint32_t millis = 0;  // transfer duration
};
template <>
struct IpcLayout<LogRequest> {
  static constexpr MsgType type = MsgType::kLogEvent;
  static constexpr auto fields = std::tuple{
      wire::Enum8{&LogRequest::kind, 1, kLastLogKind, "log kind"},
      wire::Text{&LogRequest::text, kMaxLogText}, wire::Text{&LogRequest::detail, kMaxLogText},
      wire::Bits8<LogRequest, 3>{{{{&LogRequest::upload, 1},
                                   {&LogRequest::ascii, 2},
                                   {&LogRequest::complete, 4}}}},
      wire::U64{&LogRequest::bytes}, wire::Uint{&LogRequest::millis}};
};

}  // namespace moat
