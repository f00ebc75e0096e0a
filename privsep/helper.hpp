// The per-session root helper: never parses FTP; spawns the pre-login worker,
// authenticates LOGIN requests, spawns the post-login worker with the user's
// identity, and serves the few privileged requests its state table permits.
#pragma once

#include <sys/socket.h>

#include <memory>

#include "core/server.hpp"
#include "core/util.hpp"

namespace moat {

[[noreturn]] void helper_run(std::shared_ptr<const ServerContext> ctx, UniqueFd client,
                             const sockaddr_storage& peer);

}  // namespace moat
