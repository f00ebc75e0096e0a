// SPDX-License-Identifier: GPL-2.0-or-later
// Markdown lists for MIGRATING-FROM-VSFTPD.md from the option table (migration_note.hpp).
#include "core/master/migration_note.hpp"

#include <map>
#include <string_view>

#include "core/common/config.hpp"
#include "core/host/modules.hpp"

namespace moat {
namespace {

constexpr std::string_view kNoEffectLead = "Accepted for vsftpd configs, no effect: ";
constexpr std::string_view kAcceptedLead = "Accepted for vsftpd configs";

// The reason from the option's description, without the lead every such one shares.
std::string reason(std::string_view name) {
  const OptionInfo* info = option_find(name);
  std::string_view text = info ? info->description : "";
  if (text.starts_with(kNoEffectLead))
    text.remove_prefix(kNoEffectLead.size());
  else if (text.starts_with(kAcceptedLead))
    text.remove_prefix(kAcceptedLead.size());
  std::string out(text);
  while (!out.empty() && (out.front() == ';' || out.front() == ' ' || out.front() == ','))
    out.erase(0, 1);
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string module_list() {
  std::map<std::string, std::vector<std::string>> by_module;
  for (std::string_view name : config_vsftpd_module_options()) {
    const char* owner = first_party_owner(name);
    by_module[owner ? owner : "?"].emplace_back(name);
  }
  std::string out =
      "### vsftpd options that load their module\n\n"
      "Setting one loads the module by itself; `-t` notes it (`ftpd.conf:12: note: "
      "anon_max_rate loads mod_throttle`) and still exits 0.\n\n";
  for (const auto& [module, names] : by_module)
    out += "- `" + module + "`: " + joined(names) + ".\n";
  return out;
}

std::string no_effect_list() {
  std::string out =
      "### Accepted, no effect\n\n"
      "A vsftpd.conf that sets one of these loads; `-t` notes each one set, so nobody "
      "relies on one unawares.\n\n";
  for (std::string_view name : config_vsftpd_no_effect())
    out += "- `" + std::string(name) + "`: " + reason(name) + "\n";
  return out;
}

std::string unsupported_list() {
  std::vector<std::string> names(config_vsftpd_unsupported().begin(),
                                 config_vsftpd_unsupported().end());
  return "## Not supported yet\n\n"
         "These vsftpd options are refused by `-t` with their line number and `'NAME' is a "
         "vsftpd option moatftpd does not support yet`. Every other option of vsftpd "
         "3.0.3's man page works or is accepted as above (tests/e2e/test_vsftpd_coverage.py "
         "runs each through `-t` and checks these lists against the code):\n\n"
         "- Refused: " +
         joined(names) + ".\n";
}

}  // namespace

std::string migration_option_lists() {
  return module_list() + "\n" + no_effect_list() + "\n" + unsupported_list();
}

}  // namespace moat
