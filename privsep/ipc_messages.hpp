// SPDX-License-Identifier: GPL-2.0-or-later
// Every message the helper's IPC carries, in one list: the fuzz target and the unit
// tests walk it, so a new message is fuzzed and round-tripped once it is listed here.
#pragma once

#include <tuple>

#include "privsep/ipc.hpp"
#include "privsep/key_ops.hpp"
#include "privsep/log_request.hpp"

namespace moat {

using IpcMessages =
    std::tuple<LoginRequest, LoginResult, Handover, Port20Request, Port20Result, LoginFailed,
               ModulePrivRequest, ModulePrivResult, KeySignRequest, KeySignResult,
               LogRequest>;

// One entry per MsgType, in its order (ipc_decode accepts exactly these types).
static_assert(std::tuple_size_v<IpcMessages> == static_cast<size_t>(MsgType::kLogEvent));

}  // namespace moat
