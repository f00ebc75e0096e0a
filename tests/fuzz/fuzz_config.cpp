// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: ftpd.conf lines through config_apply_line, as config_load feeds
// them, with the checks that errors say something and that what parses is stable:
// writing a parsed option back as "name=value" parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "core/common/config.hpp"

namespace {

std::string render(const moat::Config& cfg, const moat::OptionInfo& info) {
  return std::visit(
      [&](auto field) -> std::string {
        const auto& v = cfg.*field;
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) {
          return v ? "YES" : "NO";
        } else if constexpr (std::is_same_v<std::decay_t<decltype(v)>, unsigned>) {
          return std::to_string(v);
        } else {
          return v;
        }
      },
      info.field);
}

void check_reads_back(const moat::OptionInfo& info, const std::string& line,
                      const std::string& value) {
  moat::Config again;
  if (!moat::config_apply_line(again, line).ok()) abort();
  if (render(again, info) != value) abort();
}

// A line that set a known option: the value read back and written again means the same,
// with a CRLF ending too (the parser takes one trailing CR as part of the line end).
void check_stable(const moat::Config& cfg, std::string_view line) {
  const auto eq = line.find('=');
  if (eq == std::string_view::npos) return;
  const moat::OptionInfo* info = moat::option_find(line.substr(0, eq));
  if (info == nullptr) return;
  const std::string value = render(cfg, *info);
  const std::string written = std::string(info->name) + "=" + value;
  check_reads_back(*info, written + "\r", value);
  if (!value.ends_with('\r')) check_reads_back(*info, written, value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  moat::Config file;  // every line applied in turn, as from one file
  for (int n = 0; n < 256 && !text.empty(); ++n) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto st = moat::config_apply_line(file, line);
    if (!st.ok() && st.error().empty()) abort();  // every refusal says why
    moat::Config alone;
    if (moat::config_apply_line(alone, line).ok()) check_stable(alone, line);
  }
  return 0;
}
