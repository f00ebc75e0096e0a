// SPDX-License-Identifier: GPL-2.0-or-later
// moatftpd's side of libwrap (built with it only): the option processor libwrap calls for the rule
// that matched, replaced so that no option runs, and -t's warnings.
#pragma once

#include <string>
#include <vector>

namespace moat {

// In the judge, after hosts_access: the index of the option that refused the client (the matching
// rule's), or -1. libwrap calls process_options only for the rule that matched; moatftpd supplies
// that function (libwrap_hooks.cpp).
int wrappers_refused_option();

// For -t: "FILE:LINE: warning: ..." for each rule of hosts.allow and hosts.deny that names moatftpd
// or ALL among its daemons and has an option field moatftpd refuses.
std::vector<std::string> wrappers_option_warnings();

}  // namespace moat
