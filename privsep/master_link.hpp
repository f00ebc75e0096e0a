// SPDX-License-Identifier: GPL-2.0-or-later
// The link between the master and one session's helper: a SOCK_SEQPACKET socketpair
// the master makes before forking the helper. The helper reports what the master's
// module hooks need (a failed login); the master accepts only those typed messages.
#pragma once

#include <optional>
#include <string_view>

#include "core/common/util.hpp"
#include "privsep/ipc.hpp"

namespace moat {

// ---- master side ----
struct MasterLinkPair {
  UniqueFd master;  // non-blocking, kept by the master with an event
  UniqueFd helper;  // given to the helper
};
Result<MasterLinkPair> master_link_pair();

// One message from a readable link: a failed login, nothing (the helper closed its
// end), or an error for anything else (wrong type, descriptors, malformed payload).
Result<std::optional<LoginFailed>> master_link_receive(int fd);

// True when a message or the end of the link is waiting (the master drains a
// session's link before it forgets the session).
bool master_link_readable(int fd);

// ---- helper side ----
// The helper's end, adopted right after the fork; -1 when there is none (tests).
void master_link_adopt(UniqueFd fd);
int master_link_fd();

// Tells the master's modules about a failed login; a no-op without a link. Never
// fails the session: the master being gone must not change how a login is answered.
void master_link_login_failed(std::string_view user);

}  // namespace moat
