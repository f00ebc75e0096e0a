// SPDX-License-Identifier: GPL-2.0-or-later
// Which first-party module owns which option name, made at build time from the
// modules' .def files: only the names, so the core can say "X requires
// load_module=mod_Y" and load the module of a vsftpd option, while each option's type,
// default and meaning stay in its module (read from its table once it is loaded).
#include <string_view>

#include "core/host/modules.hpp"

namespace moat {

std::span<const FirstPartyOwner> first_party_owners() {
  static constexpr FirstPartyOwner kOwners[] = {
#define MOAT_MODULE_INFO(name, description)
#define MOAT_MODULE_OPTION(name, type, def, description) {#name, kModule},
#define kModule "mod_iplimit"
#include "modules/mod_iplimit/mod_iplimit.def"
#undef kModule
#define kModule "mod_anon_upload"
#include "modules/mod_anon_upload/mod_anon_upload.def"
#undef kModule
#define kModule "mod_throttle"
#include "modules/mod_throttle/mod_throttle.def"
#undef kModule
#undef MOAT_MODULE_INFO
#undef MOAT_MODULE_OPTION
  };
  return kOwners;
}

const char* first_party_owner(std::string_view option) {
  for (const FirstPartyOwner& o : first_party_owners()) {
    if (option == o.option) return o.module;
  }
  return nullptr;
}

}  // namespace moat
