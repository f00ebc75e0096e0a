// SPDX-License-Identifier: GPL-2.0-or-later
// A binary download over a plain data connection, without a bufferevent: sendfile(2)
// straight from the file, as much as the socket takes per call, driven by one
// persistent write event (no event changes per wake-up, no libevent buffer).
#pragma once

#include <cstdint>

namespace moat {

class FileSender {
 public:
  enum class Status { kMoved, kWouldBlock, kDone, kWriteError };
  struct Step {
    Status status;
    uint64_t bytes = 0;  // sent by this step
  };

  // Sends `length` bytes of file_fd from its current offset (which moves with them)
  // to the non-blocking socket sock.
  FileSender(int sock, int file_fd, uint64_t length)
      : sock_(sock), file_(file_fd), remaining_(length) {}

  // Sends what the socket takes, up to about max_bytes: kMoved when that much went,
  // kWouldBlock when the socket filled first, kDone when the file has been sent (or
  // has shrunk: what there was), kWriteError when the connection failed.
  Step pump(uint64_t max_bytes);
  uint64_t remaining() const { return remaining_; }

 private:
  int sock_, file_;
  uint64_t remaining_;
};

}  // namespace moat
