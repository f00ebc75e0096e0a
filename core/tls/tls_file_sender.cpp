// SPDX-License-Identifier: GPL-2.0-or-later
// Protected binary downloads (tls_file_sender.hpp). OpenSSL hands each record to its
// write BIO as soon as it is sealed; a socket BIO makes that one write(2) and, on
// loopback or a fast link, one packet per 16 KiB. Here the write BIO only collects the
// records of a batch, and the batch goes out in as few writes as the socket allows.
#include "core/tls/tls_file_sender.hpp"

#include <openssl/bio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace moat {
namespace {

constexpr size_t kBatch = 256 * 1024;   // plaintext per batch: 16 full records
constexpr size_t kRecordOverhead = 64;  // header, tag, content type, with room to spare

int collect_write(BIO* bio, const char* p, size_t n, size_t* written) {
  static_cast<TlsFileSender*>(BIO_get_data(bio))->take(p, n);
  *written = n;
  return 1;
}

// OpenSSL asks a write BIO to flush (and about pending bytes): nothing waits in it.
long collect_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int collect_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* collect_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "moat records");
    if (m == nullptr) return m;
    BIO_meth_set_write_ex(m, collect_write);
    BIO_meth_set_ctrl(m, collect_ctrl);
    BIO_meth_set_create(m, collect_create);
    return m;
  }();
  return method;
}

}  // namespace

TlsFileSender::TlsFileSender(SSL* ssl, int sock, int file_fd, uint64_t length)
    : ssl_(ssl), sock_(sock), file_(file_fd), remaining_(length), in_(new char[kBatch]) {
  out_.reserve(kBatch + (kBatch / SSL3_RT_MAX_PLAIN_LENGTH + 1) * kRecordOverhead);
  BIO* collector = collect_method() ? BIO_new(collect_method()) : nullptr;
  if (collector == nullptr) return;  // pump() fails: the download ends with 426
  BIO_set_data(collector, this);
  SSL_set0_wbio(ssl_, collector);  // drops one of the socket BIO's two references
  collecting_ = true;
}

TlsFileSender::~TlsFileSender() {
  if (!collecting_) return;
  BIO* socket_bio = SSL_get_rbio(ssl_);
  BIO_up_ref(socket_bio);
  SSL_set0_wbio(ssl_, socket_bio);  // frees the collector
}

// The next batch, read from the file and sealed into out_.
TlsFileSender::Batch TlsFileSender::encrypt_batch() {
  out_.clear();
  out_pos_ = 0;
  if (remaining_ == 0) return Batch::kEnd;
  ssize_t n = read(file_, in_.get(), static_cast<size_t>(std::min<uint64_t>(remaining_, kBatch)));
  if (n == 0) return Batch::kEnd;  // the file shrank: what there was has been sent
  if (n < 0) return Batch::kFailed;
  size_t sealed = 0;
  if (SSL_write_ex(ssl_, in_.get(), static_cast<size_t>(n), &sealed) != 1) return Batch::kFailed;
  remaining_ -= static_cast<uint64_t>(n);
  batch_plain_ = static_cast<uint64_t>(n);
  return Batch::kSealed;
}

TlsFileSender::Step TlsFileSender::pump(uint64_t max_bytes) {
  if (!collecting_) return {Status::kWriteError};
  Step step{Status::kMoved};
  while (step.bytes < max_bytes) {
    if (out_pos_ == out_.size()) {
      if (stopped_) return {Status::kStopped, step.bytes};
      Batch b = encrypt_batch();
      if (b == Batch::kEnd) return {Status::kDone, step.bytes};
      if (b == Batch::kFailed) return {Status::kWriteError, step.bytes};
    }
    ssize_t w = write(sock_, out_.data() + out_pos_, out_.size() - out_pos_);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return {Status::kWouldBlock, step.bytes};
    if (w <= 0) return {Status::kWriteError, step.bytes};
    out_pos_ += static_cast<size_t>(w);
    if (out_pos_ == out_.size()) step.bytes += std::exchange(batch_plain_, 0);
  }
  return step;
}

}  // namespace moat
