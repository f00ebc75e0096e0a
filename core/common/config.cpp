// SPDX-License-Identifier: GPL-2.0-or-later
// ftpd.conf: the option table built from options.def, the parser for vsftpd's config
// language with its semantic checks, and the ftpd.conf(5) page generated from the table.
#include "core/common/config.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <map>

#include "core/common/man_format.hpp"
#include "core/host/modules.hpp"

namespace moat {
namespace {

constexpr std::size_t kMaxLineBytes = 4096;
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxShownBytes = 80;
constexpr std::size_t kMaxModuleName = 64;
constexpr unsigned kMaxPort = 65535;
constexpr unsigned kMaxMode = 0777;

constexpr std::array<std::string_view, 3> kOctalOptions = {"local_umask", "anon_umask",
                                                           "file_open_mode"};
constexpr std::array<std::string_view, 4> kPortOptions = {"listen_port", "ftp_data_port",
                                                          "pasv_min_port", "pasv_max_port"};

// vsftpd options moatftpd does not implement yet: named as such, so a vsftpd.conf that
// uses them gets an honest message instead of "unknown option".
// (dsa_*: DSA certificates are obsolete; rsa_cert_file takes any key type.)
constexpr auto kVsftpdOnly = std::to_array<std::string_view>(
    {"ptrace_sandbox", "http_enable"});

// vsftpd options accepted so a vsftpd.conf loads, that change nothing here (ftpd.conf(5)
// says why): -t notes each one set, so nobody relies on one unawares.
constexpr auto kVsftpdNoEffect = std::to_array<std::string_view>(
    {"async_abor_enable", "isolate", "isolate_network", "ssl_sslv2", "ssl_sslv3", "ssl_tlsv1",
     "ssl_tlsv1_1", "reverse_lookup_enable", "setproctitle_enable", "one_process_model",
     "run_as_launching_user", "check_shell", "use_sendfile", "trans_chunk_size", "no_log_lock",
     "dsa_cert_file", "dsa_private_key_file"});

// vsftpd's own options that a first-party module implements: setting one loads that
// module by itself, so a vsftpd.conf works unchanged; load_module= is for the rest.
constexpr auto kVsftpdModuleOptions = std::to_array<std::string_view>(
    {"max_clients", "max_per_ip", "anon_upload_enable", "anon_mkdir_write_enable",
     "anon_other_write_enable", "chown_uploads", "chown_username", "chown_upload_mode",
     "anon_max_rate", "local_max_rate"});

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool is_octal_option(std::string_view name) { return contains(kOctalOptions, name); }

bool is_vsftpd_only(std::string_view name) { return contains(kVsftpdOnly, name); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

// Text from a config line, made safe to put in a one-line error message.
std::string shown(std::string_view text) {
  std::string out(text.substr(0, kMaxShownBytes));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  if (text.size() > kMaxShownBytes) out += "...";
  return out;
}

std::string octal_text(unsigned v) {
  if (v == 0) return "0";
  std::array<char, 16> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v, 8);
  return "0" + std::string(buf.data(), res.ptr);
}

std::string format_value(std::string_view, bool v) { return v ? "YES" : "NO"; }
std::string format_value(std::string_view name, unsigned v) {
  return is_octal_option(name) ? octal_text(v) : std::to_string(v);
}
std::string format_value(std::string_view, const std::string& v) { return v; }

std::string value_text(const OptionInfo& info, const Config& cfg) {
  return std::visit([&](auto field) { return format_value(info.name, cfg.*field); }, info.field);
}

std::vector<OptionInfo> declared_options() {
  std::vector<OptionInfo> v;
#define MOAT_BOOL(n, def, own, desc) \
  v.push_back({#n, OptionType::kBool, "", own, desc, &Config::n});
#define MOAT_UINT(n, def, own, desc) \
  v.push_back({#n, OptionType::kUint, "", own, desc, &Config::n});
#define MOAT_STR(n, def, own, desc) \
  v.push_back({#n, OptionType::kString, "", own, desc, &Config::n});
#include "core/common/options.def"
#undef MOAT_BOOL
#undef MOAT_UINT
#undef MOAT_STR
  return v;
}

// The default texts are rendered from a default-constructed Config, so they can never
// disagree with the defaults the parser starts from.
class OptionTable {
 public:
  OptionTable() : infos_(declared_options()) {
    const Config defaults;
    texts_.reserve(infos_.size());
    for (const OptionInfo& info : infos_) texts_.push_back(value_text(info, defaults));
    for (std::size_t i = 0; i < infos_.size(); ++i) infos_[i].default_text = texts_[i].c_str();
  }
  const std::vector<OptionInfo>& infos() const { return infos_; }

 private:
  std::vector<OptionInfo> infos_;
  std::vector<std::string> texts_;  // storage behind default_text; never resized
};

// ---- values -------------------------------------------------------------

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

Result<bool> parse_bool(std::string_view name, std::string_view value) {
  for (std::string_view yes : {"YES", "TRUE", "1"}) {
    if (iequals(value, yes)) return true;
  }
  for (std::string_view no : {"NO", "FALSE", "0"}) {
    if (iequals(value, no)) return false;
  }
  return fail("bad boolean value '" + shown(value) + "' for " + std::string(name) +
              " (use YES or NO)");
}

// Decimal, or octal with a leading 0 as vsftpd reads every number (so 022 is a umask).
Result<unsigned> parse_uint(std::string_view name, std::string_view value) {
  const std::string what = "'" + shown(value) + "' for " + std::string(name);
  if (value.empty()) return fail("empty value for " + std::string(name) + " (expected a number)");
  const int base = (value.size() > 1 && value.front() == '0') ? 8 : 10;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v, base);
  if (ec == std::errc::result_out_of_range) return fail("number " + what + " is too large");
  if (ec != std::errc{} || end != value.data() + value.size()) {
    return fail("bad number " + what +
                (base == 8 ? " (a leading 0 means octal: digits 0-7)"
                           : " (use a decimal number, or octal with a leading 0)"));
  }
  return v;
}

Status check_range(std::string_view name, unsigned v) {
  const std::string set = std::string(name) + "=" + format_value(name, v);
  if (contains(kPortOptions, name) && v > kMaxPort) {
    return fail(set + ": a port must be at most 65535");
  }
  if (is_octal_option(name) && v > kMaxMode) return fail(set + ": a mode must be at most 0777");
  return Ok{};
}

Status assign(Config& cfg, const OptionInfo& info, bool Config::*field, std::string_view value) {
  auto b = parse_bool(info.name, value);
  if (!b) return fail(b.error());
  cfg.*field = *b;
  return Ok{};
}

Status assign(Config& cfg, const OptionInfo& info, unsigned Config::*field,
              std::string_view value) {
  auto n = parse_uint(info.name, value);
  if (!n) return fail(n.error());
  if (auto st = check_range(info.name, *n); !st) return st;
  cfg.*field = *n;
  return Ok{};
}

Status assign(Config& cfg, const OptionInfo&, std::string Config::*field, std::string_view value) {
  cfg.*field = std::string(value);
  return Ok{};
}

bool valid_module_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxModuleName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status add_module(Config& cfg, std::string_view name) {
  if (!valid_module_name(name)) {
    return fail("bad module name '" + shown(name) + "' for load_module (use a-z, 0-9 and _)");
  }
  if (std::find(cfg.load_module.begin(), cfg.load_module.end(), name) != cfg.load_module.end()) {
    return fail("load_module=" + std::string(name) + " appears twice");
  }
  cfg.load_module.emplace_back(name);
  return Ok{};
}

// ---- lines --------------------------------------------------------------

bool blank_or_comment(std::string_view line) {
  auto first = std::find_if(line.begin(), line.end(), [](char c) { return !is_space(c); });
  return first == line.end() || *first == '#';
}

Status check_line_bytes(std::string_view line) {
  if (line.size() > kMaxLineBytes) return fail("line longer than 4096 bytes");
  if (line.find('\0') != std::string_view::npos) return fail("NUL byte in line");
  // Only an -o override can carry one; it would smuggle a second line into a value.
  if (line.find('\n') != std::string_view::npos) return fail("line break inside a line");
  return Ok{};
}

Status check_name_shape(std::string_view name, std::string_view value) {
  if (name.empty()) return fail("missing option name before '='");
  if (is_space(name.front())) {
    return fail("whitespace before option name '" + shown(name) + "' is not allowed");
  }
  if (is_space(name.back()) || (!value.empty() && is_space(value.front()))) {
    return fail("no whitespace allowed around '=' (write " + shown(name) + "=value)");
  }
  return Ok{};
}

std::string unknown_option_message(std::string_view name) {
  if (const char* owner = first_party_owner(name)) {
    return std::string(name) + " requires load_module=" + owner;
  }
  if (is_vsftpd_only(name)) {
    return "'" + shown(name) + "' is a vsftpd option moatftpd does not support yet";
  }
  return "unknown option '" + shown(name) + "'";
}

bool module_loaded(const Config& cfg, std::string_view module) {
  return std::find(cfg.load_module.begin(), cfg.load_module.end(), module) != cfg.load_module.end();
}

// Options of first-party modules that still live in options.def: config_load knows
// every load_module line before it reads them, so the first such line is named.
Status check_owner_loaded(const Config& cfg, std::string_view name) {
  const OptionInfo* info = option_find(name);
  if (info == nullptr || std::string_view(info->owner) == "core") return Ok{};
  if (module_loaded(cfg, info->owner)) return Ok{};
  return fail(std::string(name) + " requires load_module=" + info->owner);
}

// An option from a loaded module's table, checked by its type and kept as written.
Result<std::string> apply_module_option(Config& cfg, std::string_view name,
                                        std::string_view value) {
  const ModuleOption* opt = cfg.modules ? cfg.modules->find_option(name) : nullptr;
  if (opt == nullptr) return fail(unknown_option_message(name));
  if (opt->def->type == MOAT_OPT_BOOL) {
    if (auto b = parse_bool(name, value); !b) return fail(b.error());
  } else if (opt->def->type == MOAT_OPT_UINT) {
    if (auto n = parse_uint(name, value); !n) return fail(n.error());
  }
  cfg.module_options.insert_or_assign(std::string(name), std::string(value));
  return std::string(name);
}

// Applies one line; gives the option it set ("" for a blank or comment line) so
// config_load can remember where each option was set.
Result<std::string> apply_line(Config& cfg, std::string_view line) {
  // vsftpd would keep a Windows line ending as part of the value (and then reject
  // "YES\r"); a config edited on Windows is common enough that we strip one trailing \r.
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (auto st = check_line_bytes(line); !st) return fail(st.error());
  if (blank_or_comment(line)) return std::string();
  const std::size_t eq = line.find('=');
  if (eq == std::string_view::npos) return fail("expected name=value, got '" + shown(line) + "'");
  const std::string_view name = line.substr(0, eq);
  const std::string_view value = line.substr(eq + 1);
  if (auto st = check_name_shape(name, value); !st) return fail(st.error());
  if (name == "load_module") {
    if (auto st = add_module(cfg, value); !st) return fail(st.error());
    return std::string(name);
  }
  const OptionInfo* info = option_find(name);
  if (info == nullptr) return apply_module_option(cfg, name, value);
  auto st = std::visit([&](auto field) { return assign(cfg, *info, field, value); }, info->field);
  if (!st) return fail(st.error());
  return std::string(name);
}

// ---- loading ------------------------------------------------------------

// Where an option was last set: "file:line" or "-o name=value", and in which order.
struct Origin {
  std::string where;
  std::size_t order = 0;
};

// One line of the file or one override, with where it came from.
struct SourceLine {
  std::string_view text;
  std::string where;
};

// Lines that must be applied before the others: they say which modules to load.
bool is_module_line(std::string_view text) {
  const std::string_view name = text.substr(0, text.find('='));
  return name.size() < text.size() && (name == "load_module" || name == "module_dir");
}

struct Loader {
  Config cfg;
  std::map<std::string, Origin, std::less<>> origins;
  std::vector<Origin> module_origins;  // parallel to cfg.load_module
  std::vector<std::string> errors;     // every one, in order: -t reports them all
  bool modules_failed = false;         // their options are then not reported again

  Status line(const SourceLine& src, std::size_t order);
  void apply(const std::vector<SourceLine>& lines, bool module_lines);
  void add_implied_modules(const std::vector<SourceLine>& lines);
  void note_no_effect(const std::vector<SourceLine>& lines);
  Status load_modules();
  void check_modules();
  std::string where_set(std::string_view name) const;
  const Origin* origin(std::string_view name) const;
};

Status Loader::line(const SourceLine& src, std::size_t order) {
  if (modules_failed && first_party_owner(src.text.substr(0, src.text.find('='))) != nullptr)
    return Ok{};
  auto set = apply_line(cfg, src.text);
  if (!set) return fail(src.where + ": " + set.error());
  if (set->empty()) return Ok{};
  if (auto st = check_owner_loaded(cfg, *set); !st) return fail(src.where + ": " + st.error());
  Origin o{src.where, order};
  if (*set == "load_module") module_origins.push_back(o);
  origins.insert_or_assign(*set, std::move(o));
  return Ok{};
}

const Origin* Loader::origin(std::string_view name) const {
  auto it = origins.find(name);
  return it == origins.end() ? nullptr : &it->second;
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    return fail(path + ": " + errno_text(err));
  }
  std::string text;
  std::array<char, 8192> buf{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return fail(path + ": " + errno_text(err));
    }
    if (n == 0) return text;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxFileBytes) return fail(path + ": larger than 1 MiB, not a config file");
  }
}

// The file's lines ("path:N"), then the overrides ("-o name=value"), in order.
std::vector<SourceLine> source_lines(const std::string& path, std::string_view text,
                                     const std::vector<std::string>& overrides) {
  std::vector<SourceLine> lines;
  for (std::size_t lineno = 1; !text.empty(); ++lineno) {
    const std::size_t nl = text.find('\n');
    lines.push_back({text.substr(0, nl), path + ":" + std::to_string(lineno)});
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  for (const std::string& ov : overrides) lines.push_back({ov, "-o " + shown(ov)});
  return lines;
}

void Loader::apply(const std::vector<SourceLine>& lines, bool module_lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (is_module_line(lines[i].text) != module_lines) continue;
    if (auto st = line(lines[i], i); !st) errors.push_back(st.error());
  }
}

// After the load_module lines: the module of each vsftpd option set (see
// kVsftpdModuleOptions) joins them, at the option's first line, with a note for -t.
void Loader::add_implied_modules(const std::vector<SourceLine>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view name = lines[i].text.substr(0, lines[i].text.find('='));
    if (!contains(kVsftpdModuleOptions, name)) continue;
    const char* owner = first_party_owner(name);
    if (owner == nullptr || module_loaded(cfg, owner)) continue;
    cfg.load_module.emplace_back(owner);
    module_origins.push_back({lines[i].where + " (" + std::string(name) + ")", i});
    cfg.notes.push_back(lines[i].where + ": note: " + std::string(name) + " loads " + owner);
  }
}

// The last user_config_dir= line's value, before the options are applied.
std::string user_config_dir_of(const std::vector<SourceLine>& lines) {
  constexpr std::string_view kPrefix = "user_config_dir=";
  std::string dir;
  for (const SourceLine& l : lines) {
    if (!l.text.starts_with(kPrefix)) continue;
    dir = std::string(l.text.substr(kPrefix.size()));
    if (dir.ends_with('\r')) dir.pop_back();
  }
  return dir;
}

// The texts of the files in user_config_dir (unreadable ones left out: -t reports them).
std::vector<std::pair<std::string, std::string>> user_files(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  DIR* d = dir.empty() ? nullptr : opendir(dir.c_str());
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = dir + "/" + e->d_name;
    if (auto text = read_file(path)) files.emplace_back(path, std::move(*text));
  }
  closedir(d);
  return files;
}

void Loader::note_no_effect(const std::vector<SourceLine>& lines) {
  for (const SourceLine& l : lines) {
    const std::string_view name = l.text.substr(0, l.text.find('='));
    if (!contains(kVsftpdNoEffect, name)) continue;
    cfg.notes.push_back(l.where + ": note: " + std::string(name) +
                        " is accepted for vsftpd configs and has no effect (see ftpd.conf(5))");
  }
}

Status Loader::load_modules() {
  std::vector<ModuleRequest> requests;
  for (std::size_t i = 0; i < cfg.load_module.size(); ++i) {
    requests.push_back({cfg.load_module[i], module_origins[i].where});
  }
  auto reg = ModuleRegistry::load(cfg.module_dir, requests);
  if (!reg) return fail(reg.error());
  cfg.modules = std::move(*reg);
  return Ok{};
}

// Where an option was set; for one left at its default, its module's load_module line
// (a module's check may refuse a default that depends on other values).
std::string Loader::where_set(std::string_view name) const {
  if (const Origin* o = origin(name)) return o->where;
  const ModuleOption* opt = cfg.modules ? cfg.modules->find_option(name) : nullptr;
  const std::string_view module = opt ? std::string_view(opt->module) : name;
  for (std::size_t i = 0; i < cfg.load_module.size() && i < module_origins.size(); ++i)
    if (cfg.load_module[i] == module) return module_origins[i].where;
  return cfg.source_file;
}

// The modules' own checks of their values (their check hooks), as -t reports the rest.
void Loader::check_modules() {
  if (!cfg.modules || modules_failed) return;
  auto found = cfg.modules->check(cfg, [this](std::string_view name) { return where_set(name); });
  errors.insert(errors.end(), found.begin(), found.end());
}

// ---- semantic checks ----------------------------------------------------

Status check_listen(const Loader& ld, const std::string& path) {
  if (ld.cfg.listen || ld.cfg.listen_ipv6) return Ok{};
  const Origin* a = ld.origin("listen");
  const Origin* b = ld.origin("listen_ipv6");
  if (a == nullptr || (b != nullptr && b->order > a->order)) a = b;
  const std::string where = a ? a->where : (path.empty() ? "(built-in defaults)" : path);
  return fail(
      where +
      ": neither listen=YES nor listen_ipv6=YES: moatftpd runs only as a standalone server");
}

Status check_pasv_range(const Loader& ld) {
  const Config& c = ld.cfg;
  if (c.pasv_min_port == 0 || c.pasv_max_port == 0 || c.pasv_min_port <= c.pasv_max_port) {
    return Ok{};
  }
  const Origin* lo = ld.origin("pasv_min_port");
  const Origin* hi = ld.origin("pasv_max_port");
  const Origin* later = (lo && hi && hi->order > lo->order) ? hi : (lo ? lo : hi);
  return fail((later ? later->where : c.source_file) +
              ": pasv_min_port=" + std::to_string(c.pasv_min_port) +
              " is greater than pasv_max_port=" + std::to_string(c.pasv_max_port));
}

Status check_semantics(Loader& ld, const std::string& path) {
  if (auto st = check_listen(ld, path); !st) ld.errors.push_back(st.error());
  return check_pasv_range(ld);
}

// ---- man page -----------------------------------------------------------

const char* type_text(const OptionInfo& info) {
  switch (info.type) {
    case OptionType::kBool:
      return "boolean";
    case OptionType::kUint:
      return is_octal_option(info.name) ? "octal number" : "number";
    case OptionType::kString:
      return "string";
  }
  return "value";
}

std::string option_entry(const OptionInfo& info) {
  return man_entry(info.name, type_text(info), info.default_text, info.owner, info.description);
}

constexpr std::string_view kManHead = R"(.TH FTPD.CONF 5 "" "moatftpd" "File Formats Manual"
.SH NAME
ftpd.conf \- configuration file of moatftpd
.SH DESCRIPTION
.B moatftpd
reads its configuration from
.I ftpd.conf
in the language of \%vsftpd.conf, with vsftpd's option names, meanings and defaults, so an
existing vsftpd.conf keeps working.
.PP
Each line is
.IR name = value
with no whitespace around the
.BR = .
Lines whose first non-blank character is
.B #
are comments; blank lines are ignored. A
.B #
after a value is part of the value. A trailing carriage return (a file saved with CRLF
line endings) is ignored. Lines are at most 4096 bytes.
.PP
Booleans are
.BR YES " or " NO
(also TRUE, FALSE, 1 and 0, in any case). Numbers are decimal, or octal when they start
with 0, as in vsftpd: write umasks and modes such as
.B 022
with the leading 0. Strings are taken verbatim to the end of the line; an empty value
means the option is unset.
.PP
.BI load_module= NAME
loads the module
.IR module_dir / NAME .so
and may be repeated, once per module. An option of vsftpd that a module of moatftpd
implements (such as
.B max_per_ip
or
.BR anon_max_rate )
loads that module by itself, and
.B moatftpd \-t
prints a note saying so. Other options that belong to a module are accepted only when
that module is loaded; setting one without it is an error naming the
.B load_module
line to add.
.PP
Unlike vsftpd, at least one of
.B listen
and
.B listen_ipv6
must be YES (moatftpd always runs as a standalone server), and both may be YES at once:
one server then accepts IPv4 and IPv6 connections.
.PP
An unknown option, a bad value, or an option whose module is not loaded is an error
reported as
\fIfile\fR:\fIline\fR: \fImessage\fR;
.B moatftpd \-t
checks a file without starting the server, and
.BI \-o " name" = value
on the command line sets an option after the file has been read.
.SH OPTIONS
)";

constexpr std::string_view kManTail = R"(.SH SEE ALSO
.BR moatftpd (8),
.BR vsftpd.conf (5),
.BR xferlog (5)
)";

}  // namespace

const std::vector<OptionInfo>& option_table() {
  static const OptionTable table;
  return table.infos();
}

const OptionInfo* option_find(std::string_view name) {
  for (const OptionInfo& info : option_table()) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

std::span<const std::string_view> config_vsftpd_no_effect() { return kVsftpdNoEffect; }
std::span<const std::string_view> config_vsftpd_module_options() { return kVsftpdModuleOptions; }
std::span<const std::string_view> config_vsftpd_unsupported() { return kVsftpdOnly; }

Status config_apply_line(Config& cfg, std::string_view line) {
  auto set = apply_line(cfg, line);
  if (!set) return fail(set.error());
  return Ok{};
}

Result<bool> config_parse_bool(std::string_view name, std::string_view value) {
  return parse_bool(name, value);
}

Result<unsigned> config_parse_uint(std::string_view name, std::string_view value) {
  return parse_uint(name, value);
}

ConfigReport config_load_all(const std::string& path, const std::vector<std::string>& overrides) {
  Loader ld;
  ld.cfg.source_file = path;
  std::string text;
  if (!path.empty()) {
    auto read = read_file(path);
    if (!read) return {std::move(ld.cfg), {read.error()}, false};
    text = std::move(*read);
  }
  const std::vector<SourceLine> lines = source_lines(path, text, overrides);
  ld.apply(lines, true);
  ld.add_implied_modules(lines);
  // vsftpd's virtual-user set-ups put anon_upload_enable and the like in the users'
  // files: the modules of the vsftpd options set there load too.
  const auto users = user_files(user_config_dir_of(lines));
  for (const auto& [file, body] : users) ld.add_implied_modules(source_lines(file, body, {}));
  if (auto st = ld.load_modules(); !st) {
    ld.errors.push_back(st.error());
    ld.modules_failed = true;
  }
  ld.apply(lines, false);
  if (auto st = check_semantics(ld, path); !st) ld.errors.push_back(st.error());
  ld.check_modules();
  ld.note_no_effect(lines);
  for (const auto& [name, o] : ld.origins) ld.cfg.origins.emplace(name, o.where);
  return {std::move(ld.cfg), std::move(ld.errors)};
}

Result<Config> config_load(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigReport report = config_load_all(path, overrides);
  if (report.errors.empty()) return std::move(report.cfg);
  std::string text;
  for (const std::string& e : report.errors) text += (text.empty() ? "" : "\n") + e;
  return fail(text);
}

std::string config_man_page() {
  std::string page(kManHead);
  for (const OptionInfo& info : option_table()) page += option_entry(info);
  page += kManTail;
  return page;
}

// ---- per-user files (user_config_dir) -------------------------------------

namespace {

// Options read only by the master, or before login: a per-user value could never take
// effect, so saying so beats ignoring it.
constexpr auto kMasterOnly = std::to_array<std::string_view>(
    {"background", "load_module", "module_dir", "max_clients", "max_per_ip",
     "max_login_failures_per_ip", "login_failure_window", "login_ban_time", "tcp_wrappers",
     "pasv_address", "pasv_addr_resolve", "connect_from_port_20", "ftp_data_port", "ca_certs_file",
     "require_cert", "validate_cert", "nopriv_user", "secure_chroot_dir", "user_config_dir"});
constexpr auto kMasterOnlyPrefixes =
    std::to_array<std::string_view>({"listen", "implicit_ssl", "rsa_", "dsa_", "ssl_"});

bool master_only(std::string_view name) {
  if (contains(kMasterOnly, name)) return true;
  return std::any_of(kMasterOnlyPrefixes.begin(), kMasterOnlyPrefixes.end(),
                     [&](std::string_view prefix) { return name.starts_with(prefix); });
}

// The option a line would set, "" for a blank or comment line or one without '='
// (apply_line then gives its own error).
std::string_view option_of(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (blank_or_comment(line)) return {};
  const std::size_t eq = line.find('=');
  return eq == std::string_view::npos ? std::string_view() : line.substr(0, eq);
}

// vsftpd: a user without a file in user_config_dir just gets the main configuration.
bool no_such_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

}  // namespace

Status config_apply_user_file(Config& cfg, const std::string& path) {
  if (no_such_file(path)) return Ok{};
  auto text = read_file(path);
  if (!text) return fail(text.error());
  // Applied to a copy, so that cfg is untouched when a line is refused.
  Loader ld;
  ld.cfg = cfg;
  const std::vector<SourceLine> lines = source_lines(path, *text, {});
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view name = option_of(lines[i].text);
    if (master_only(name)) {
      return fail(lines[i].where + ": " + shown(name) + " cannot be set per user");
    }
    if (auto st = ld.line(lines[i], i); !st) return st;
  }
  if (auto st = check_pasv_range(ld); !st) return st;
  cfg = std::move(ld.cfg);
  return Ok{};
}

}  // namespace moat
