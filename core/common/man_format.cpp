// SPDX-License-Identifier: GPL-2.0-or-later
// troff for ftpd.conf(5) (man_format.hpp).
#include "core/common/man_format.hpp"

namespace moat {

std::string troff_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else {
      out += c;
    }
  }
  if (out.starts_with('.') || out.starts_with('\'')) out.insert(0, "\\&");
  return out;
}

std::string man_entry(std::string_view name, std::string_view type, std::string_view def,
                      std::string_view owner, std::string_view description) {
  std::string tag = "\\fB" + troff_text(name) + "\\fR (" + std::string(type) + ", default ";
  tag += def.empty() ? "empty" : "\\fB" + troff_text(def) + "\\fR";
  if (owner != "core") tag += ", needs \\fBload_module=" + troff_text(owner) + "\\fR";
  return ".TP\n" + tag + ")\n" + troff_text(description) + "\n";
}

}  // namespace moat
