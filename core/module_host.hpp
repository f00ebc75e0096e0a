// The struct moat_host the core hands to modules: option lookups, log lines, shared
// memory while the master runs init, and the worker services of phase 2.
#pragma once

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

}  // namespace moat
