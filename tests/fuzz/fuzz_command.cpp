// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: a raw control-connection line through Telnet stripping,
// command splitting and the UTF-8 check, as the worker runs them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/protocol/ftpcmd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string line = moat::telnet_strip(raw);
  if (line.size() > raw.size()) abort();  // stripping never adds bytes
  auto cmd = moat::command_parse(line);
  if (cmd.ok()) {
    if (cmd->verb.empty() || cmd->verb.size() > 8) abort();
    for (char c : cmd->verb)
      if (c < 'A' || c > 'Z') abort();
    if (cmd->arg.size() >= line.size()) abort();
    moat::utf8_valid(cmd->arg);
  }
  moat::utf8_valid(raw);
  return 0;
}
