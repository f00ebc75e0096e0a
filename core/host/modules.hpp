// SPDX-License-Identifier: GPL-2.0-or-later
// The loaded modules (modules/moat_module.h): loading and checking them in the master
// before any fork, their option tables, their state, and calling their master hooks.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/util.hpp"
#include "core/host/module_host.hpp"
#include "modules/moat_module.h"

namespace moat {

struct Config;

// A load_module=NAME line and where it was written ("file:line" or "-o ...").
struct ModuleRequest {
  std::string name;
  std::string where;
};

// One option of a loaded module, pointing into the module's own table.
struct ModuleOption {
  const moat_option* def;
  const char* module;  // the owning module's name
};

class ModuleRegistry {
 public:
  // dlopens dir/NAME.so for each request (RTLD_NOW | RTLD_LOCAL) and checks its
  // moat_module_NAME: ABI version, size, name, reserved fields, option table, which
  // it resolves to handles. The first problem is returned as
  // "WHERE: load_module=NAME: PATH: reason".
  static Result<std::shared_ptr<ModuleRegistry>> load(const std::string& dir,
                                                      const std::vector<ModuleRequest>& requests);

  ModuleRegistry();
  ~ModuleRegistry();
  ModuleRegistry(const ModuleRegistry&) = delete;
  ModuleRegistry& operator=(const ModuleRegistry&) = delete;

  const ModuleOption* find_option(std::string_view name) const;
  const std::vector<ModuleOption>& options() const { return options_; }
  std::vector<std::string> names() const;
  std::size_t size() const { return modules_.size(); }

  // The configuration the modules' option handles read: the master binds its own (and
  // again after a reload), a session process the session's.
  void bind(const Config* cfg) { host_.cfg = cfg; }
  // A worker's services (reply, privileged, rate_limit); nullptr elsewhere.
  void bind_worker(ModuleWorkerServices* services) { host_.worker = services; }
  // In a process that must not share the modules' memory (a pre-login worker): each
  // shared_alloc region becomes private zeroed memory at the same address, so a hook
  // that touches it still works but writes nothing anyone else reads. False on failure.
  bool shared_detach();

  // -t, start-up and reload: each module's check hook on cfg. Errors read
  // "WHERE: OPTION: message", WHERE from `where` (the line that set the option).
  std::vector<std::string> check(const Config& cfg,
                                 std::function<std::string(std::string_view)> where);
  // Master, once, before any fork: binds the host to cfg and runs each init.
  Status init(const Config& cfg);
  // Master hooks. admit returns true to admit; on refusal `reply` holds the line to
  // send (without CRLF) and the modules that had admitted get session_closed.
  bool admit(const moat_conn& conn, std::string& reply);
  void session_closed(const moat_conn& conn);
  void login_failed(const moat_conn& conn, std::string_view user);
  // Whether any module has a login_failed hook: only then does a session need a link
  // to the master to report failed logins on.
  bool has_login_failed_hooks() const;
  // A control socket request no core handler knows: the first module that takes it
  // answers; nullopt when none does.
  std::optional<std::string> control(const std::string& request);

  // Helper, when it grants a login with anonymous rights: the MOAT_WRITE_* bits the
  // modules grant (OR-ed), read from the session's options; an error when one refuses.
  Result<uint32_t> login_rights(const Config& session_cfg, const moat_session& session);
  // Helper: a privileged request from module number `module` (load_module order);
  // 0 when its priv_handler granted it, -1 otherwise (no such module, no handler).
  // The handler reads the session's options, session_cfg.
  int priv_request(const Config& session_cfg, std::size_t module, const moat_conn& conn,
                   const moat_session& session, uint16_t type, std::span<const uint8_t> payload,
                   int fd);

  // Worker hooks, in a session's worker. session_start makes each module's
  // moat_session (post-login: user and anonymous; before login user is ""); the
  // other hooks need it first.
  void session_start(const moat_conn& conn, const std::string& user, bool anonymous,
                     bool logged_in);
  // The first verdict other than MOAT_CONTINUE wins; before login only the modules
  // that declared the verb in preauth_commands are asked.
  int command_pre(const std::string& verb, const std::string& arg);
  void command_post(const std::string& verb, const std::string& arg, int reply_code);
  bool declares_preauth(std::string_view verb) const;
  // A new file an upload created: false when a module refuses it (the session ends).
  bool file_created(int fd, const std::string& path);
  void transfer_begin(const moat_transfer& x);
  void transfer_progress(const moat_transfer& x);
  void transfer_end(const moat_transfer& x);
  bool has_transfer_hooks() const;

  struct Loaded;

 private:
  Status add(const std::string& dir, const ModuleRequest& req);
  Status add_options(Loaded& mod);
  template <class F>
  void each_session_hook(F&& call);

  ModuleHostState host_;
  std::vector<std::unique_ptr<Loaded>> modules_;
  std::vector<ModuleOption> options_;
  // What a session process's modules share: the connection and the user name their
  // moat_session structs point at, alive as long as the process.
  moat_conn conn_{};
  std::string peer_text_;
  std::string user_;
};

// Typed values of loaded modules' options (text kept in Config::module_options);
// nothing when no loaded module has an option of that name and type.
const char* module_option_text(const Config& cfg, std::string_view name, moat_option_type type);

// The option names of the modules that ship with moatftpd and which module owns each,
// from their .def files at build time (names only: types, defaults and meanings are
// the modules' own). For "X requires load_module=mod_Y" and a vsftpd option's module.
struct FirstPartyOwner {
  const char* option;
  const char* module;
};
std::span<const FirstPartyOwner> first_party_owners();
const char* first_party_owner(std::string_view option);

}  // namespace moat
