// SPDX-License-Identifier: GPL-2.0-or-later
// tcp_wrappers (hosts.allow, hosts.deny): the verdict on a client address, reached in two sandboxed
// children that are neither root nor holding anything of the session.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>

#include "core/common/config.hpp"
#include "privsep/worker_stderr.hpp"

namespace moat {

// How long the name lookups and the rules may take before the client is refused.
constexpr std::chrono::milliseconds kWrappersTimeout{30000};

struct WrappersVerdict {
  bool allow = false;
  std::string why;  // a refusal's reason, for the helper's log line
};

// The connection: the client's address (peer, already unmapped by the master) and the one it
// reached (local: rules of the form daemon@address).
struct Endpoints {
  sockaddr_storage peer;
  sockaddr_storage local;
};

// With tcp_wrappers=YES: whether hosts_access admits the client. Two children of the helper, both
// nopriv_user with no_new_privs, not dumpable, no core dumps:
// - the judge (moat-wrappers, kWrappers filter: no sockets, no exec, read-only opens) runs
//   libwrap's hosts_access on the client's address, with no option field run
//   (wrappers_options.hpp);
// - the resolver (moat-resolver, kResolver filter: DNS sockets, read-only opens, no exec) does the
//   reverse and forward-confirming lookups (host_lookup.hpp) only when a rule needs the client's
//   name, and answers the judge over a socket.
// Their stderr is relayed through err, behind the helper's prefix. The judge's one-byte verdict
// comes back over a pipe. A child that fails, dies or takes longer
// than kWrappersTimeout (then killed) refuses the client.
WrappersVerdict wrappers_check(const Config& cfg, const Endpoints& ends, WorkerStderr& err);

}  // namespace moat
