// The file end of an upload (upload_sink.hpp). splice(2) moves the socket's pages into
// a pipe and from the pipe into the file: one copy, into the page cache, instead of
// two through a user buffer, and 1 MiB per system call instead of 4 KiB.
#include "core/session/upload_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "core/protocol/ascii.hpp"

namespace moat {
namespace {

constexpr int kPipeBytes = 1 << 20;         // asked for; the kernel may give less
constexpr size_t kReadBytes = 256 * 1024;  // read_in's buffer

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A step that ended at the socket: nothing there yet, its end, or a failure.
UploadSink::Step socket_step(ssize_t n, uint64_t moved) {
  if (n == 0) return {UploadSink::Status::kEof, moved};
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {UploadSink::Status::kWouldBlock, moved};
  return {UploadSink::Status::kReadError, moved, errno};
}

}  // namespace

// splice cannot write to an O_APPEND file (APPE): those are read and written.
UploadSink::UploadSink(int file_fd, bool ascii)
    : file_(file_fd), ascii_(ascii), splice_(!ascii && !(fcntl(file_fd, F_GETFL) & O_APPEND)) {}

UploadSink::Step UploadSink::pump(int sock, uint64_t max_bytes) {
  if (splice_ && (pipe_w_ || open_pipe())) return splice_in(sock, max_bytes);
  return read_in(sock, max_bytes);
}

bool UploadSink::open_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    splice_ = false;  // out of descriptors: the buffer will do
    return false;
  }
  pipe_r_.reset(fds[0]);
  pipe_w_.reset(fds[1]);
  // Over the per-user pipe quota the default size (64 KiB, or less) stays: still works.
  int size = fcntl(pipe_w_.get(), F_SETPIPE_SZ, kPipeBytes);
  if (size < 0) size = fcntl(pipe_w_.get(), F_GETPIPE_SZ);
  pipe_bytes_ = static_cast<size_t>(std::max(size, 4096));
  return true;
}

// The pipe is emptied into the file after each splice from the socket, so it never
// holds data between steps.
UploadSink::Step UploadSink::splice_in(int sock, uint64_t max_bytes) {
  uint64_t moved = 0;
  while (moved < max_bytes) {
    size_t want = std::min<uint64_t>(max_bytes - moved, pipe_bytes_);
    ssize_t n = splice(sock, nullptr, pipe_w_.get(), nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && moved == 0) {  // a socket splice does not take
      splice_ = false;
      return read_in(sock, max_bytes);
    }
    if (n <= 0) return socket_step(n, moved);
    moved += static_cast<uint64_t>(n);
    if (!drain_pipe(static_cast<size_t>(n))) return {Status::kWriteError, moved, errno};
    if (static_cast<size_t>(n) < want) return {Status::kWouldBlock, moved};  // drained: ask epoll
  }
  return {Status::kMoved, moved};
}

// A file system without splice support gets the pipe's bytes by read and write, and
// the rest of the upload by read_in.
bool UploadSink::drain_pipe(size_t n) {
  while (n > 0) {
    ssize_t w = splice(pipe_r_.get(), nullptr, file_, nullptr, n, SPLICE_F_MOVE);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL) {
      splice_ = false;
      return copy_pipe(n);
    }
    if (w == 0) errno = EIO;
    if (w <= 0) return false;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool UploadSink::copy_pipe(size_t n) {
  ensure_buffer();
  while (n > 0) {
    ssize_t r = ::read(pipe_r_.get(), buf_.get(), std::min(n, kReadBytes));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || !write_all(file_, buf_.get(), static_cast<size_t>(r))) return false;
    n -= static_cast<size_t>(r);
  }
  return true;
}

UploadSink::Step UploadSink::read_in(int sock, uint64_t max_bytes) {
  ensure_buffer();
  uint64_t moved = 0;
  while (moved < max_bytes) {
    size_t want = std::min<uint64_t>(kReadBytes, max_bytes - moved);
    ssize_t n = ::read(sock, buf_.get(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return socket_step(n, moved);
    moved += static_cast<uint64_t>(n);
    if (!write({buf_.get(), static_cast<size_t>(n)})) return {Status::kWriteError, moved, errno};
    if (static_cast<size_t>(n) < want) return {Status::kWouldBlock, moved};  // drained: ask epoll
  }
  return {Status::kMoved, moved};
}

void UploadSink::ensure_buffer() {
  if (!buf_) buf_ = std::make_unique_for_overwrite<char[]>(kReadBytes);
}

bool UploadSink::write(std::span<const char> bytes) {
  if (!ascii_) return write_all(file_, bytes.data(), bytes.size());
  converted_.clear();  // keeps its capacity: no allocation per piece
  ascii_crlf_to_lf(std::string_view(bytes.data(), bytes.size()), converted_, pending_cr_);
  return write_all(file_, converted_.data(), converted_.size());
}

bool UploadSink::flush() {
  converted_.clear();
  ascii_crlf_flush(converted_, pending_cr_);
  return write_all(file_, converted_.data(), converted_.size());
}

}  // namespace moat
