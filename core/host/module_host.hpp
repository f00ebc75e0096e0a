// SPDX-License-Identifier: GPL-2.0-or-later
// The struct moat_host the core hands to modules: option lookups, log lines, shared
// memory while the master runs init, and the worker services of phase 2.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "modules/moat_module.h"

namespace moat {

struct Config;

// The one host table of this process.
const moat_host* module_host();

// The configuration option_bool/uint/string read; the master rebinds it on SIGHUP,
// and session processes keep the one they were forked with.
void module_host_bind(const Config* cfg);

// shared_alloc works only while the master runs the modules' init hooks.
void module_host_set_init(bool in_init);

// In a process that must not share the modules' memory (a pre-login worker): each
// shared_alloc region becomes private zeroed memory at the same address, so a hook
// that touches it still works but writes nothing anyone else reads. False on failure.
bool module_shared_detach();

// The module whose hook is running (load_module index), -1 outside hooks.
void module_host_set_current(int index);
int module_host_current();

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
void module_host_bind_worker(ModuleWorkerServices* services);

}  // namespace moat
