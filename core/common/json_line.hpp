// SPDX-License-Identifier: GPL-2.0-or-later
// One JSON object on one line (json_log_file): every string escaped so that whatever
// a client sends (quotes, newlines, control bytes, broken UTF-8) stays inside its value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace moat {

// `text` as a JSON string literal, quotes included. Valid UTF-8 passes through;
// each byte of an invalid sequence becomes U+FFFD, so the line is always valid UTF-8.
std::string json_string(std::string_view text);

class JsonLine {
 public:
  JsonLine& str(std::string_view key, std::string_view value);
  JsonLine& num(std::string_view key, uint64_t value);
  JsonLine& boolean(std::string_view key, bool value);
  std::string line() const { return "{" + body_ + "}\n"; }

 private:
  void key(std::string_view key);
  std::string body_;
};

// "2026-12-06T06:49:07.123Z": UTC with milliseconds, whatever use_localtime says.
std::string json_time_now();

}  // namespace moat
