// SPDX-License-Identifier: GPL-2.0-or-later
// What one step of a download sender did (core/session/file_sender.hpp,
// core/tls/tls_file_sender.hpp): the transfer handles both senders' steps alike.
#pragma once

#include <cstdint>

namespace moat {

// kMoved: the step's share went and more is left; kWouldBlock: the socket filled
// first; kDone: the file has been sent (or has shrunk: what there was); kStopped:
// the sender was asked to stop (the rest goes another way); kWriteError: the
// connection failed.
enum class SendStatus { kMoved, kWouldBlock, kDone, kStopped, kWriteError };

struct SendStep {
  SendStatus status;
  uint64_t bytes = 0;  // moved by this step (TLS: plaintext whose records all left)
};

}  // namespace moat
