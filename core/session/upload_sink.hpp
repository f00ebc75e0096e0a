// An upload's bytes on their way into its file: spliced from the data socket through a
// pipe (no copy through user space) when they need no conversion, else read in large
// pieces into one reused buffer, converted (TYPE A) and written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/common/util.hpp"

namespace moat {

class UploadSink {
 public:
  enum class Status { kMoved, kWouldBlock, kEof, kReadError, kWriteError };
  struct Step {
    Status status;
    uint64_t bytes = 0;  // taken from the network by this step
    int err = 0;         // errno for kReadError and kWriteError
  };

  // file_fd stays the caller's; ascii converts CRLF to LF (TYPE A).
  UploadSink(int file_fd, bool ascii);

  // Moves what the (non-blocking) socket has, up to max_bytes: kMoved when that much
  // was moved, kWouldBlock when the socket ran dry first, kEof at the client's end.
  Step pump(int sock, uint64_t max_bytes);
  // Bytes that came another way (TLS decrypted them): converted and written.
  bool write(std::span<const char> bytes);
  // The end of the upload: a CR held back by the conversion is written.
  bool flush();

 private:
  Step splice_in(int sock, uint64_t max_bytes);
  Step read_in(int sock, uint64_t max_bytes);
  bool drain_pipe(size_t n);
  bool copy_pipe(size_t n);
  bool open_pipe();
  void ensure_buffer();

  int file_;
  bool ascii_;
  bool splice_;     // binary, and the file takes splice (not O_APPEND)
  UniqueFd pipe_r_, pipe_w_;
  size_t pipe_bytes_ = 0;
  std::unique_ptr<char[]> buf_;  // read_in's reads, allocated at the first
  std::string converted_;  // TYPE A output, reused
  bool pending_cr_ = false;
};

}  // namespace moat
