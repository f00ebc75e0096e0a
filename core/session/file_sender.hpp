// SPDX-License-Identifier: GPL-2.0-or-later
// A binary download over a plain data connection, without a bufferevent: sendfile(2)
// straight from the file, as much as the socket takes per call, driven by one
// persistent write event (no event changes per wake-up, no libevent buffer).
#pragma once

#include <cstdint>

#include "core/common/send_step.hpp"

namespace moat {

class FileSender {
 public:
  using Status = SendStatus;  // never kStopped
  using Step = SendStep;

  // Sends `length` bytes of file_fd from its current offset (which moves with them)
  // to the non-blocking socket sock.
  FileSender(int sock, int file_fd, uint64_t length)
      : sock_(sock), file_(file_fd), remaining_(length) {}

  // Sends what the socket takes, up to about max_bytes (send_step.hpp).
  Step pump(uint64_t max_bytes);
  uint64_t remaining() const { return remaining_; }

 private:
  int sock_, file_;
  uint64_t remaining_;
};

}  // namespace moat
