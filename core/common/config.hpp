// SPDX-License-Identifier: GPL-2.0-or-later
// ftpd.conf: the option table, the parser, and the immutable Config it produces.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/common/util.hpp"

#ifndef MOAT_DEFAULT_MODULE_DIR
#define MOAT_DEFAULT_MODULE_DIR "/usr/local/lib/moatftpd/modules"
#endif
// Installed by make install (Makefile.am): vsftpd's /usr/share/empty is missing on Debian.
#ifndef MOAT_DEFAULT_SECURE_CHROOT_DIR
#define MOAT_DEFAULT_SECURE_CHROOT_DIR "/usr/local/share/moatftpd/empty"
#endif

namespace moat {

class ModuleRegistry;

// One field per option, named exactly as in ftpd.conf.
struct Config {
#define MOAT_BOOL(name, def, owner, desc) bool name = def;
#define MOAT_UINT(name, def, owner, desc) unsigned name = def;
#define MOAT_STR(name, def, owner, desc) std::string name = def;
#include "core/common/options.def"
#undef MOAT_BOOL
#undef MOAT_UINT
#undef MOAT_STR
  std::vector<std::string> load_module;  // repeatable: load_module=NAME
  // Options of loaded modules as written (validated); typed access through
  // module_option_text (core/host/modules.hpp) or the module host.
  std::map<std::string, std::string, std::less<>> module_options;
  std::shared_ptr<ModuleRegistry> modules;  // what load_module loaded (config_load)
  std::string source_file;               // the file this was read from
  std::vector<std::string> notes;        // for -t: modules loaded by their vsftpd options
  // Where each option set was last set ("file:line" or "-o name=value"), for -t.
  std::map<std::string, std::string, std::less<>> origins;
};

enum class OptionType { kBool, kUint, kString };

struct OptionInfo {
  const char* name;
  OptionType type;
  const char* default_text;  // as it would be written in ftpd.conf
  const char* owner;         // "core" or a module name
  const char* description;
  std::variant<bool Config::*, unsigned Config::*, std::string Config::*> field;
};

// The whole table, in options.def order.
const std::vector<OptionInfo>& option_table();
const OptionInfo* option_find(std::string_view name);

// Reads `path` (if non-empty), then applies each `name=value` override in order.
// Errors read "file:line: message" (overrides: "-o NAME=VALUE: message").
// module_dir and load_module lines (file and overrides) are read first and the modules
// loaded (ModuleRegistry::load), so that their options are known when the rest is
// parsed. Semantic checks (module ownership, listen on, ranges) are part of loading.
Result<Config> config_load(const std::string& path, const std::vector<std::string>& overrides);

// The same, going on after an error: every error in the order of the lines, and the
// configuration with the lines that had none (for -t, which reports them all).
struct ConfigReport {
  Config cfg;
  std::vector<std::string> errors;
  bool file_read = true;  // false: errors says why, and cfg is only the defaults
};
ConfigReport config_load_all(const std::string& path, const std::vector<std::string>& overrides);

// Parses one "name=value" line into cfg; used by config_load and tests. Options of
// modules are known only when cfg.modules is set.
Status config_apply_line(Config& cfg, std::string_view line);

// Per-user overrides (user_config_dir): applies FILE's name=value lines onto cfg. Options
// that only the master uses (listen*, listen_port, load_module, module_dir, max_clients,
// max_per_ip, pasv/port bind addresses, implicit_ssl*, rsa_*/ssl_* certificate settings,
// nopriv_user, secure_chroot_dir, user_config_dir itself; also background, tcp_wrappers
// and mod_iplimit's other options) are refused with "FILE:LINE: NAME cannot be set per
// user". A missing file is not an error (vsftpd). Errors read "FILE:LINE: message"; on
// an error cfg is left unchanged.
Status config_apply_user_file(Config& cfg, const std::string& path);

// vsftpd's options by what moatftpd does with them (besides implementing them): the
// ones accepted with no effect, the ones whose first-party module they load, and the
// ones refused as not supported yet. MIGRATING-FROM-VSFTPD.md is generated from them.
std::span<const std::string_view> config_vsftpd_no_effect();
std::span<const std::string_view> config_vsftpd_module_options();
std::span<const std::string_view> config_vsftpd_unsupported();

// The value parsers of the option table, shared with modules' option tables.
Result<bool> config_parse_bool(std::string_view name, std::string_view value);
Result<unsigned> config_parse_uint(std::string_view name, std::string_view value);

// ftpd.conf(5) in troff, generated from the table; the first-party modules' section is
// added at build time from their .def files (tools/module_man.cpp).
std::string config_man_page();

}  // namespace moat
