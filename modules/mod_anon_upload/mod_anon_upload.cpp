// SPDX-License-Identifier: GPL-2.0-or-later
// mod_anon_upload: declares the anonymous-write options. It has no hooks on purpose:
// the helper reads these options when it grants an anonymous login and the core does
// every file operation and the chown itself (contrib/MODULES.md, "mod_anon_upload").
#include "modules/moat_module.h"

namespace {

#define MOAT_MODULE_DEF "modules/mod_anon_upload/mod_anon_upload.def"
#include "modules/module_options.inc"

}  // namespace

MOAT_MODULE(mod_anon_upload) = {
    MOAT_MODULE_ABI_VERSION,
    sizeof(struct moat_module),
    "mod_anon_upload",
    kDescription,
    kOptions,
    nullptr,  // preauth_commands
    nullptr,  // init
    nullptr,  // admit
    nullptr,  // session_closed
    nullptr,  // login_failed
    nullptr,  // priv_handler
    nullptr,  // session_start
    nullptr,  // command_pre
    nullptr,  // command_post
    nullptr,  // transfer_begin
    nullptr,  // transfer_end
    nullptr,  // transfer_progress
    {},
};
