// SPDX-License-Identifier: GPL-2.0-or-later
// The option lists of MIGRATING-FROM-VSFTPD.md, generated from the option table so the
// note cannot drift from the parser (moatftpd --migration-lists; see Makefile.am).
#pragma once

#include <string>

namespace moat {

// Markdown: the vsftpd options that load a module, those accepted with no effect (with
// the reason ftpd.conf(5) gives) and those not supported yet.
std::string migration_option_lists();

}  // namespace moat
