// SPDX-License-Identifier: GPL-2.0-or-later
// The LogEvent request: what a worker may say about its session for the log (the
// helper's SessionLog, privsep/log_relay.hpp, writes it). Its layout is below; its strict decoder is fuzzed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/util.hpp"
#include "privsep/ipc.hpp"

namespace moat {

enum class LogKind : uint8_t {
  kFtpCommand = 1,   // log_ftp_protocol: text is the command line
  kFtpResponse = 2,  // log_ftp_protocol: text is the reply's first line
  kTlsFailed = 3,    // the control handshake failed: text is why
  kNote = 4,         // a line of the worker's own (e.g. a refused data connection)
  kTransfer = 5,     // text is the path; the transfer fields below
};

constexpr size_t kMaxLogText = 4096;

struct LogRequest {
  LogKind kind{};
  std::string text;
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
      wire::Enum8{&LogRequest::kind, 1, 5, "log kind"}, wire::Text{&LogRequest::text, kMaxLogText},
      wire::Bits8<LogRequest, 3>{{{{&LogRequest::upload, 1},
                                   {&LogRequest::ascii, 2},
                                   {&LogRequest::complete, 4}}}},
      wire::U64{&LogRequest::bytes}, wire::Uint{&LogRequest::millis}};
};

}  // namespace moat
