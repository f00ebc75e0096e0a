// SPDX-License-Identifier: GPL-2.0-or-later
// Plain binary downloads by sendfile(2) (file_sender.hpp).
#include "core/session/file_sender.hpp"

#include <sys/sendfile.h>

#include <algorithm>
#include <cerrno>

namespace moat {
namespace {
// One call's most: the kernel takes what fits in the socket buffer and returns.
constexpr uint64_t kMaxCall = 0x7ffff000;
}  // namespace

FileSender::Step FileSender::pump(uint64_t max_bytes) {
  Step step{Status::kMoved};
  while (step.bytes < max_bytes) {
    if (remaining_ == 0) return {Status::kDone, step.bytes};
    size_t want = static_cast<size_t>(std::min({remaining_, max_bytes - step.bytes, kMaxCall}));
    ssize_t n = sendfile(sock_, file_, nullptr, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return {Status::kWouldBlock, step.bytes};
    if (n < 0) return {Status::kWriteError, step.bytes};
    if (n == 0) return {Status::kDone, step.bytes};  // the file shrank: what there was
    remaining_ -= static_cast<uint64_t>(n);
    step.bytes += static_cast<uint64_t>(n);
  }
  return remaining_ == 0 ? Step{Status::kDone, step.bytes} : step;
}

}  // namespace moat
