// SPDX-License-Identifier: GPL-2.0-or-later
// troff for ftpd.conf(5): one option's entry, the same for the core's options (the
// server prints them) and the first-party modules' (tools/module_man.cpp prints them
// from the modules' .def files at build time).
#pragma once

#include <string>
#include <string_view>

namespace moat {

// One line of running text for troff: backslashes escaped, and a leading '.' or '\''
// guarded so it is not taken for a request.
std::string troff_text(std::string_view text);

// ".TP" entry: name (type, default, the module it needs unless owner is "core").
std::string man_entry(std::string_view name, std::string_view type, std::string_view def,
                      std::string_view owner, std::string_view description);

}  // namespace moat
