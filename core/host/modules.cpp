// SPDX-License-Identifier: GPL-2.0-or-later
// Loading modules and checking them before anything of theirs runs, their option
// tables, and the master hooks. Only the master loads modules, before any fork; the
// session processes inherit the mappings.
#include "core/host/modules.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <set>
#include <type_traits>

#include "core/common/config.hpp"
#include "core/host/module_host.hpp"

namespace moat {

struct ModuleRegistry::Loaded {
  std::string name;
  void* handle = nullptr;
  const moat_module* def = nullptr;
  ModuleContext host;     // what the host services know of the module
  moat_ctx ctx{};         // handed to every hook; ctx.host_private is &host
  bool admitted = false;  // scratch for admit(): this module said MOAT_CONTINUE
  moat_session session{};  // session processes: this module's view of the session

  ~Loaded() {
    if (handle != nullptr) dlclose(handle);
  }
};

namespace {

constexpr std::size_t kMaxOptions = 128;
constexpr std::size_t kMaxOptionName = 64;
constexpr std::size_t kMaxPreauthCommands = 32;
constexpr std::size_t kMaxVerb = 8;
constexpr std::size_t kReplyBytes = 512;
// An operator's answer (--bans): a line per banned address fits thousands.
constexpr std::size_t kControlAnswerBytes = std::size_t{1} << 20;

bool option_name_ok(std::string_view name) {
  if (name.empty() || name.size() > kMaxOptionName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool one_line(const char* text) {
  return text != nullptr && std::strpbrk(text, "\r\n") == nullptr;
}

// A module runs as root in the master: it must not be replaceable by anyone else.
Status check_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return fail("owned by uid " + std::to_string(st.st_uid) + ", not by root");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return fail("writable by group or others (chmod go-w)");
  return Ok{};
}

// dlerror() repeats the path; the caller's message already starts with it.
std::string dlopen_error(const std::string& path) {
  const char* e = dlerror();
  std::string text = e ? e : "dlopen failed";
  if (text.starts_with(path + ": ")) text.erase(0, path.size() + 2);
  return text;
}

// Another ABI version is refused rather than adapted: a version 1 module reads
// options by name and keeps no context, and an adapter would keep both alive here.
Status check_header(const moat_module& m, const std::string& name) {
  if (m.abi_version != MOAT_MODULE_ABI_VERSION) {
    return fail("built for module ABI version " + std::to_string(m.abi_version) +
                " (this server has " + std::to_string(MOAT_MODULE_ABI_VERSION) +
                "): rebuild it against this server's moat_module.h");
  }
  if (m.struct_size < sizeof(moat_module)) {
    return fail("struct moat_module is " + std::to_string(m.struct_size) +
                " bytes, expected at least " + std::to_string(sizeof(moat_module)));
  }
  if (m.name == nullptr || name != m.name) {
    return fail("module calls itself '" + std::string(m.name ? m.name : "(null)") +
                "', expected '" + name + "'");
  }
  for (std::size_t i = 0; i < std::size(m.reserved); ++i) {
    if (m.reserved[i] != nullptr) {
      return fail("reserved field " + std::to_string(i) + " is not zero");
    }
  }
  return Ok{};
}

// A module's enum field may hold any bit pattern: read it as an integer, since loading
// an out-of-range value as the enum type is undefined behaviour in C++.
unsigned raw_type(const moat_option& o) {
  std::underlying_type_t<moat_option_type> raw;
  std::memcpy(&raw, &o.type, sizeof raw);
  return static_cast<unsigned>(raw);
}

Status check_default(const moat_option& o) {
  if (o.default_text == nullptr || !one_line(o.default_text)) return fail("bad default_text");
  if (raw_type(o) > MOAT_OPT_STRING) return fail("unknown type " + std::to_string(raw_type(o)));
  switch (o.type) {
    case MOAT_OPT_BOOL:
      if (auto b = config_parse_bool(o.name, o.default_text); !b) return fail(b.error());
      return Ok{};
    case MOAT_OPT_UINT:
      if (auto n = config_parse_uint(o.name, o.default_text); !n) return fail(n.error());
      return Ok{};
    case MOAT_OPT_STRING:
      return Ok{};
  }
  return fail("unknown type");
}

OptionType core_type(moat_option_type t) {
  if (t == MOAT_OPT_BOOL) return OptionType::kBool;
  return t == MOAT_OPT_UINT ? OptionType::kUint : OptionType::kString;
}

// MOAT_OPT_CORE: a core option the module reads, which must exist with that type.
Status check_core_import(const moat_option& o) {
  const std::string name = o.name;
  if (raw_type(o) > MOAT_OPT_STRING) return fail("option '" + name + "': unknown type");
  const OptionInfo* info = option_find(name);
  if (info == nullptr) return fail("no core option '" + name.substr(0, 80) + "'");
  if (info->type != core_type(o.type)) {
    return fail("core option '" + name + "' is not of the type the module reads it as");
  }
  return Ok{};
}

// The shape of one entry; clashes with other tables are checked by the registry.
Status check_option(const moat_option& o, std::string_view module) {
  const std::string name = o.name;
  if (!option_name_ok(name)) return fail("bad option name '" + name.substr(0, 80) + "'");
  if (name == "load_module") return fail("option 'load_module' is the core's");
  if (option_find(name) != nullptr) return fail("option '" + name + "' is a core option");
  const char* owner = first_party_owner(name);
  if (owner != nullptr && module != owner) {
    return fail("option '" + name + "' belongs to " + owner);
  }
  if (auto st = check_default(o); !st) return fail("option '" + name + "': " + st.error());
  if (!one_line(o.description) || *o.description == '\0') {
    return fail("option '" + name + "' has no one-line description");
  }
  return Ok{};
}

bool verb_ok(const char* verb) {
  const std::size_t n = std::strlen(verb);
  if (n == 0 || n > kMaxVerb) return false;
  return std::all_of(verb, verb + n, [](char c) { return c >= 'A' && c <= 'Z'; });
}

Status check_preauth_commands(const char* const* verbs) {
  if (verbs == nullptr) return Ok{};
  for (std::size_t i = 0; verbs[i] != nullptr; ++i) {
    if (i >= kMaxPreauthCommands) return fail("more than 32 preauth_commands");
    if (!verb_ok(verbs[i])) return fail("bad preauth command '" + std::string(verbs[i]) + "'");
  }
  return Ok{};
}

// A module's refusal as one safe reply line: a 4xx/5xx code, no line breaks.
std::string admit_reply(const std::array<char, kReplyBytes>& buf) {
  std::string line(buf.data(), strnlen(buf.data(), buf.size()));
  line = line.substr(0, line.find_first_of("\r\n"));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  const bool coded = line.size() >= 4 && (line[0] == '4' || line[0] == '5') &&
                     std::isdigit(static_cast<unsigned char>(line[1])) &&
                     std::isdigit(static_cast<unsigned char>(line[2])) && line[3] == ' ';
  if (coded) return line;
  return line.empty() ? "421 Service not available." : "421 " + line;
}

}  // namespace

// ---- loading -----------------------------------------------------------------

ModuleRegistry::ModuleRegistry() = default;
ModuleRegistry::~ModuleRegistry() = default;

Result<std::shared_ptr<ModuleRegistry>> ModuleRegistry::load(
    const std::string& dir, const std::vector<ModuleRequest>& requests) {
  auto reg = std::make_shared<ModuleRegistry>();
  for (const ModuleRequest& req : requests) {
    if (auto st = reg->add(dir, req); !st) return fail(st.error());
  }
  return reg;
}

Status ModuleRegistry::add(const std::string& dir, const ModuleRequest& req) {
  const std::string path = dir + "/" + req.name + ".so";
  const std::string prefix = req.where + ": load_module=" + req.name + ": " + path + ": ";
  if (auto st = check_file(path); !st) return fail(prefix + st.error());
  auto mod = std::make_unique<Loaded>();
  mod->name = req.name;
  mod->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (mod->handle == nullptr) return fail(prefix + dlopen_error(path));
  const std::string symbol = "moat_module_" + req.name;
  mod->def = static_cast<const moat_module*>(dlsym(mod->handle, symbol.c_str()));
  if (mod->def == nullptr) return fail(prefix + "no symbol " + symbol + " (not a moatftpd module?)");
  if (auto st = check_header(*mod->def, req.name); !st) return fail(prefix + st.error());
  if (auto st = check_preauth_commands(mod->def->preauth_commands); !st) {
    return fail(prefix + st.error());
  }
  mod->host.index = modules_.size();
  mod->host.name = req.name;
  mod->host.host = &host_;
  mod->ctx = module_ctx(mod->host);
  if (auto st = add_options(*mod); !st) return fail(prefix + st.error());
  modules_.push_back(std::move(mod));
  return Ok{};
}

// Checks the table, then resolves it: entry i gets handle i + 1, the same in every
// registry that loads the module (a reload loads it again), so the module's handle
// variables never change under it.
Status ModuleRegistry::add_options(Loaded& mod) {
  const moat_module& def = *mod.def;
  std::vector<ModuleOption> mine;
  std::vector<ResolvedOption> resolved;
  std::set<std::string_view> seen;
  for (const moat_option* o = def.options; o != nullptr && o->name != nullptr; ++o) {
    if (resolved.size() == kMaxOptions) return fail("more than 128 options (no NULL entry?)");
    if (o->flags & ~MOAT_OPT_CORE) return fail("option '" + std::string(o->name) + "': bad flags");
    if (o->handle == nullptr) return fail("option '" + std::string(o->name) + "' has no handle");
    const bool core = o->flags & MOAT_OPT_CORE;
    if (auto st = core ? check_core_import(*o) : check_option(*o, def.name); !st) return st;
    if (!seen.insert(o->name).second) return fail("option '" + std::string(o->name) + "' twice");
    if (const ModuleOption* other = find_option(o->name)) {
      return fail("option '" + std::string(o->name) + "' is also an option of " + other->module);
    }
    if (!core) mine.push_back({o, def.name});
    resolved.push_back({o->name, o->type, core, o->default_text});
  }
  for (std::size_t i = 0; i < resolved.size(); ++i) *def.options[i].handle = uint32_t(i + 1);
  mod.host.options = std::move(resolved);
  options_.insert(options_.end(), mine.begin(), mine.end());
  return Ok{};
}

const ModuleOption* ModuleRegistry::find_option(std::string_view name) const {
  for (const ModuleOption& o : options_) {
    if (name == o.def->name) return &o;
  }
  return nullptr;
}

std::vector<std::string> ModuleRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& m : modules_) out.push_back(m->name);
  return out;
}

bool ModuleRegistry::shared_detach() {
  bool ok = true;
  for (const SharedRegion& r : host_.shared) {
    void* p = mmap(r.addr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
    ok = ok && p == r.addr;
  }
  return ok;
}

// ---- master hooks ----------------------------------------------------------------

namespace {

// Binds the configuration the modules' options are read from for one call, and puts
// the previous one back: the session's options in the helper outlive no request.
class BindFor {
 public:
  BindFor(ModuleHostState& host, const Config& cfg) : host_(host), old_(host.cfg) {
    host.cfg = &cfg;
  }
  ~BindFor() { host_.cfg = old_; }
  BindFor(const BindFor&) = delete;
  BindFor& operator=(const BindFor&) = delete;

 private:
  ModuleHostState& host_;
  const Config* old_;
};

}  // namespace

std::vector<std::string> ModuleRegistry::check(const Config& cfg,
                                               std::function<std::string(std::string_view)> where) {
  ModuleCheck check{std::move(where), {}};
  BindFor bound(host_, cfg);
  host_.check = &check;
  for (const auto& m : modules_) {
    if (m->def->check == nullptr) continue;
    const std::size_t before = check.errors.size();
    // A refusal that named no option still fails: the load_module line says whose.
    if (m->def->check(&m->ctx) != 0 && check.errors.size() == before)
      check.errors.push_back(check.where(m->name) + ": " + m->name + ": check failed");
  }
  host_.check = nullptr;
  return std::move(check.errors);
}

Status ModuleRegistry::init(const Config& cfg) {
  bind(&cfg);
  host_.in_init = true;
  for (const auto& m : modules_) {
    if (m->def->init == nullptr) continue;
    const int rc = m->def->init(&m->ctx);
    if (rc != 0) {
      host_.in_init = false;
      return fail(m->name + ": init failed (" + std::to_string(rc) + ")");
    }
  }
  host_.in_init = false;
  return Ok{};
}

bool ModuleRegistry::admit(const moat_conn& conn, std::string& reply) {
  for (const auto& m : modules_) m->admitted = false;
  for (const auto& m : modules_) {
    if (m->def->admit == nullptr) continue;
    std::array<char, kReplyBytes> buf{};
    const int verdict = m->def->admit(&m->ctx, &conn, buf.data(), buf.size() - 1);
    if (verdict == MOAT_CONTINUE) {
      m->admitted = true;
      continue;
    }
    reply = admit_reply(buf);  // any verdict but CONTINUE refuses: fail closed
    for (const auto& earlier : modules_) {
      if (earlier->admitted && earlier->def->session_closed) {
        earlier->def->session_closed(&earlier->ctx, &conn);
      }
    }
    return false;
  }
  return true;
}

void ModuleRegistry::session_closed(const moat_conn& conn) {
  for (const auto& m : modules_) {
    if (m->def->session_closed != nullptr) m->def->session_closed(&m->ctx, &conn);
  }
}

void ModuleRegistry::login_failed(const moat_conn& conn, std::string_view user) {
  const std::string name(user);
  for (const auto& m : modules_) {
    if (m->def->login_failed != nullptr) m->def->login_failed(&m->ctx, &conn, name.c_str());
  }
}

std::optional<std::string> ModuleRegistry::control(const std::string& request) {
  std::vector<char> buf(kControlAnswerBytes, '\0');
  for (const auto& m : modules_) {
    if (m->def->control == nullptr) continue;
    if (m->def->control(&m->ctx, request.c_str(), buf.data(), buf.size() - 1) != MOAT_HANDLED)
      continue;
    return std::string(buf.data(), strnlen(buf.data(), buf.size()));
  }
  return std::nullopt;
}

bool ModuleRegistry::has_login_failed_hooks() const {
  return std::any_of(modules_.begin(), modules_.end(),
                     [](const auto& m) { return m->def->login_failed != nullptr; });
}

// ---- helper hooks -----------------------------------------------------------------

Result<uint32_t> ModuleRegistry::login_rights(const Config& session_cfg,
                                              const moat_session& session) {
  constexpr uint32_t kKnown = MOAT_WRITE_UPLOAD | MOAT_WRITE_MKDIR | MOAT_WRITE_OTHER;
  BindFor bound(host_, session_cfg);
  uint32_t rights = 0;
  for (const auto& m : modules_) {
    if (m->def->login_rights == nullptr) continue;
    uint32_t mine = 0;
    if (m->def->login_rights(&m->ctx, &session, &mine) != 0)
      return fail(m->name + " refused the login");
    rights |= mine & kKnown;
  }
  return rights;
}

int ModuleRegistry::priv_request(const Config& session_cfg, std::size_t module,
                                 const moat_conn& conn, const moat_session& session,
                                 uint16_t type, std::span<const uint8_t> payload, int fd) {
  if (module >= modules_.size()) return -1;
  BindFor bound(host_, session_cfg);
  Loaded& m = *modules_[module];
  if (m.def->priv_handler == nullptr) return -1;
  moat_session mine = session;
  mine.module_state = nullptr;  // the worker's per-session pointer means nothing here
  const int rc =
      m.def->priv_handler(&m.ctx, &conn, &mine, type, payload.data(), payload.size(), fd);
  return rc == 0 ? 0 : -1;
}

// ---- worker hooks ----------------------------------------------------------------------

void ModuleRegistry::session_start(const moat_conn& conn, const std::string& user,
                                   bool anonymous, bool logged_in) {
  peer_text_ = conn.peer_text ? conn.peer_text : "";
  conn_ = conn;
  conn_.peer_text = peer_text_.c_str();
  user_ = user;
  for (const auto& m : modules_) {
    m->session = moat_session{&conn_, user_.c_str(), anonymous ? 1 : 0, nullptr,
                              static_cast<uint32_t>(getuid())};
    if (logged_in && m->def->session_start != nullptr)
      m->def->session_start(&m->ctx, &m->session);
  }
}

namespace {
bool declares(const moat_module& def, std::string_view verb) {
  for (const char* const* v = def.preauth_commands; v != nullptr && *v != nullptr; ++v)
    if (verb == *v) return true;
  return false;
}
}  // namespace

bool ModuleRegistry::declares_preauth(std::string_view verb) const {
  return std::any_of(modules_.begin(), modules_.end(),
                     [&](const auto& m) { return declares(*m->def, verb); });
}

int ModuleRegistry::command_pre(const std::string& verb, const std::string& arg) {
  const bool logged_in = !user_.empty();
  moat_command cmd{verb.c_str(), arg.c_str(), 0};
  for (const auto& m : modules_) {
    if (m->def->command_pre == nullptr || (!logged_in && !declares(*m->def, verb))) continue;
    const int verdict = m->def->command_pre(&m->ctx, &m->session, &cmd);
    if (verdict == MOAT_REFUSE || verdict == MOAT_HANDLED) return verdict;
  }
  return MOAT_CONTINUE;
}

// Calls `call(module)` for each module, after login only.
template <class F>
void ModuleRegistry::each_session_hook(F&& call) {
  if (user_.empty()) return;  // before login only command_pre, for declared verbs
  for (const auto& m : modules_) call(*m);
}

void ModuleRegistry::command_post(const std::string& verb, const std::string& arg, int code) {
  moat_command cmd{verb.c_str(), arg.c_str(), code};
  each_session_hook([&](Loaded& m) {
    if (m.def->command_post != nullptr) m.def->command_post(&m.ctx, &m.session, &cmd);
  });
}

bool ModuleRegistry::file_created(int fd, const std::string& path) {
  bool ok = true;
  each_session_hook([&](Loaded& m) {
    if (ok && m.def->file_created != nullptr)
      ok = m.def->file_created(&m.ctx, &m.session, fd, path.c_str()) == MOAT_CONTINUE;
  });
  return ok;
}

bool ModuleRegistry::has_transfer_hooks() const {
  return std::any_of(modules_.begin(), modules_.end(), [](const auto& m) {
    return m->def->transfer_begin || m->def->transfer_progress || m->def->transfer_end;
  });
}

void ModuleRegistry::transfer_begin(const moat_transfer& x) {
  each_session_hook([&](Loaded& m) {
    if (m.def->transfer_begin != nullptr) m.def->transfer_begin(&m.ctx, &m.session, &x);
  });
}

void ModuleRegistry::transfer_progress(const moat_transfer& x) {
  each_session_hook([&](Loaded& m) {
    if (m.def->transfer_progress != nullptr) m.def->transfer_progress(&m.ctx, &m.session, &x);
  });
}

void ModuleRegistry::transfer_end(const moat_transfer& x) {
  each_session_hook([&](Loaded& m) {
    if (m.def->transfer_end != nullptr) m.def->transfer_end(&m.ctx, &m.session, &x);
  });
}

// ---- option values -----------------------------------------------------------------

const char* module_option_text(const Config& cfg, std::string_view name, moat_option_type type) {
  if (!cfg.modules) return nullptr;
  const ModuleOption* o = cfg.modules->find_option(name);
  if (o == nullptr || o->def->type != type) return nullptr;
  auto it = cfg.module_options.find(name);
  return it == cfg.module_options.end() ? o->def->default_text : it->second.c_str();
}

}  // namespace moat
