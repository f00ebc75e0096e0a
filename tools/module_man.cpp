// SPDX-License-Identifier: GPL-2.0-or-later
// moat-module-man: a build-time filter for ftpd.conf(5). It copies the page the server
// prints (moatftpd --man) from stdin to stdout and puts the first-party modules'
// options, read from their .def files, before SEE ALSO: the page documents them while
// the server itself carries none of them.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/common/man_format.hpp"
#include "modules/moat_module.h"

namespace {

struct DefOption {
  const char* module;
  const char* name;
  moat_option_type type;
  const char* default_text;
  const char* description;
};

struct DefModule {
  const char* name;
  const char* description;
};

const DefModule kModules[] = {
#define MOAT_MODULE_INFO(name, description) {#name, description},
#define MOAT_MODULE_OPTION(name, type, def, description)
#include "modules/mod_iplimit/mod_iplimit.def"
#include "modules/mod_anon_upload/mod_anon_upload.def"
#include "modules/mod_throttle/mod_throttle.def"
#undef MOAT_MODULE_INFO
#undef MOAT_MODULE_OPTION
};

std::vector<DefOption> def_options() {
  std::vector<DefOption> v;
  const char* module = nullptr;
#define MOAT_MODULE_INFO(name, description) module = #name;
#define MOAT_MODULE_OPTION(name, type, def, description) \
  v.push_back({module, #name, type, def, description});
#include "modules/mod_iplimit/mod_iplimit.def"
#include "modules/mod_anon_upload/mod_anon_upload.def"
#include "modules/mod_throttle/mod_throttle.def"
#undef MOAT_MODULE_INFO
#undef MOAT_MODULE_OPTION
  return v;
}

const char* type_text(moat_option_type type) {
  switch (type) {
    case MOAT_OPT_BOOL:
      return "boolean";
    case MOAT_OPT_UINT:
      return "number";
    case MOAT_OPT_STRING:
      return "string";
  }
  return "value";
}

constexpr char kIntro[] = R"(.SH MODULE OPTIONS
The options of the modules that come with moatftpd. Those that vsftpd has load their
module when set; the others are accepted only when their module is loaded with its
.B load_module
line. Modules from elsewhere document their own options.
)";

std::string module_section() {
  const std::vector<DefOption> options = def_options();
  std::string out = kIntro;
  for (const DefModule& m : kModules) {
    out += ".PP\n\\fB" + moat::troff_text(m.name) + "\\fR: " + moat::troff_text(m.description) +
           "\n";
    for (const DefOption& o : options)
      if (std::string(o.module) == m.name)
        out += moat::man_entry(o.name, type_text(o.type), o.default_text, o.module,
                               o.description);
  }
  return out;
}

}  // namespace

int main() {
  bool placed = false;
  for (std::string line; std::getline(std::cin, line);) {
    if (!placed && line == ".SH SEE ALSO") {
      std::cout << module_section();
      placed = true;
    }
    std::cout << line << '\n';
  }
  if (!placed) {
    std::fprintf(stderr, "moat-module-man: no SEE ALSO section in the page\n");
    return 1;
  }
  return std::cout.good() ? 0 : 1;
}
