// SPDX-License-Identifier: GPL-2.0-or-later
// A binary download over a protected data connection, without a bufferevent: the file
// is read 256 KiB at a time, encrypted into full 16 KiB records and the records of a
// batch leave in one write, instead of one write (one loopback packet) per record.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/common/send_step.hpp"

namespace moat {

class TlsFileSender {
 public:
  using Status = SendStatus;
  using Step = SendStep;  // bytes: plaintext whose records have all been written

  // Sends `length` bytes of file_fd from its current offset over ssl, whose socket
  // (non-blocking) is sock. Until destroyed it owns the SSL's write side: the SSL's
  // own socket BIO is put back then, for the close_notify.
  TlsFileSender(SSL* ssl, int sock, int file_fd, uint64_t length);
  ~TlsFileSender();
  TlsFileSender(const TlsFileSender&) = delete;
  TlsFileSender& operator=(const TlsFileSender&) = delete;

  // Writes what the socket takes, up to about max_bytes: kMoved when that much went,
  // kWouldBlock when the socket filled first, kDone when the file has been sent (or
  // has shrunk: what there was), kStopped after stop(), kWriteError when the
  // connection failed.
  Step pump(uint64_t max_bytes);
  // No more batches: the next pump that finds the current one written returns
  // kStopped, and the rest (remaining() bytes from the file's offset) can go another way.
  void stop() { stopped_ = true; }
  uint64_t remaining() const { return remaining_; }

  // The SSL's write BIO appends here (tls_file_sender.cpp).
  void take(const char* p, size_t n) { out_.insert(out_.end(), p, p + n); }

 private:
  enum class Batch { kSealed, kEnd, kFailed };
  Batch encrypt_batch();

  SSL* ssl_;
  int sock_, file_;
  uint64_t remaining_;
  bool collecting_ = false;  // the SSL writes into out_
  bool stopped_ = false;
  std::unique_ptr<char[]> in_;  // one batch of plaintext
  std::vector<char> out_;       // its records
  size_t out_pos_ = 0;          // written so far
  uint64_t batch_plain_ = 0;    // plaintext bytes behind out_
};

}  // namespace moat
