// SPDX-License-Identifier: GPL-2.0-or-later
// The options of the modules that ship with moatftpd, compiled in from each module's
// .def file (the same file the module builds its table from), so that the core can
// name the module an option needs and the man page can document it without loading it.
#include <string_view>
#include <vector>

#include "core/host/modules.hpp"

namespace moat {

const std::vector<FirstPartyOption>& first_party_options() {
  static const std::vector<FirstPartyOption> table = [] {
    std::vector<FirstPartyOption> v;
    const char* module = nullptr;
#define MOAT_MODULE_INFO(name, description) module = #name;
#define MOAT_MODULE_OPTION(name, type, def, description) \
  v.push_back({module, {#name, type, def, description}});
#include "modules/mod_iplimit/mod_iplimit.def"
#include "modules/mod_anon_upload/mod_anon_upload.def"
#include "modules/mod_throttle/mod_throttle.def"
#undef MOAT_MODULE_INFO
#undef MOAT_MODULE_OPTION
    return v;
  }();
  return table;
}

const std::vector<FirstPartyModule>& first_party_modules() {
  static const std::vector<FirstPartyModule> table = [] {
    std::vector<FirstPartyModule> v;
#define MOAT_MODULE_INFO(name, description) v.push_back({#name, description});
#define MOAT_MODULE_OPTION(name, type, def, description)
#include "modules/mod_iplimit/mod_iplimit.def"
#include "modules/mod_anon_upload/mod_anon_upload.def"
#include "modules/mod_throttle/mod_throttle.def"
#undef MOAT_MODULE_INFO
#undef MOAT_MODULE_OPTION
    return v;
  }();
  return table;
}

const char* first_party_owner(std::string_view option) {
  for (const FirstPartyOption& o : first_party_options()) {
    if (option == o.def.name) return o.module;
  }
  return nullptr;
}

}  // namespace moat
