// SPDX-License-Identifier: GPL-2.0-or-later
// The struct moat_host the core hands to modules: option values through the handles
// their tables were resolved to, log lines, shared memory while the master runs init,
// the worker services, and check errors. Every call names its module by its
// moat_ctx, whose host_private is the ModuleContext below: no global says who calls.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modules/moat_module.h"

namespace moat {

struct Config;

// What a session's worker gives modules: reply, privileged and rate_limit. Until a
// worker binds one, those services log "not available in this process" and fail.
class ModuleWorkerServices {
 public:
  virtual void reply(int code, std::string_view text) = 0;
  virtual int privileged(uint16_t module, uint16_t type, std::span<const uint8_t> payload,
                         int fd) = 0;
  virtual void rate_limit(uint64_t bytes_per_second) = 0;

 protected:
  ~ModuleWorkerServices() = default;
};

struct SharedRegion {
  void* addr;
  std::size_t size;
};

// While the check hooks run: where each option was set, and the errors reported.
struct ModuleCheck {
  std::function<std::string(std::string_view option)> where;
  std::vector<std::string> errors;
};

// The host's state for one registry of loaded modules, shared by their contexts.
struct ModuleHostState {
  const Config* cfg = nullptr;  // the options read: the master's, or the session's
  bool in_init = false;         // shared_alloc works only while init hooks run
  ModuleWorkerServices* worker = nullptr;
  std::vector<SharedRegion> shared;  // every shared_alloc region, for detach
  ModuleCheck* check = nullptr;      // while check hooks run
};

// One entry of a module's option table as resolved at load; its handle is its index + 1.
struct ResolvedOption {
  std::string name;
  moat_option_type type;
  bool core;                 // MOAT_OPT_CORE: a core option the module reads
  const char* default_text;  // own options: the table's default
};

// One loaded module as the host services see it.
struct ModuleContext {
  std::size_t index = 0;  // load_module order: the module a privileged request names
  std::string name;
  std::vector<ResolvedOption> options;
  ModuleHostState* host = nullptr;
};

// The one host table of this process.
const moat_host* module_host();

// A context for `mc`: its host table, no state yet, and mc behind host_private.
moat_ctx module_ctx(ModuleContext& mc);

}  // namespace moat
