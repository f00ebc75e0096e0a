// SPDX-License-Identifier: GPL-2.0-or-later
// What keeps transfers of one file apart: whole-file locks (lock_upload_files) and
// atomic uploads (atomic_uploads: a STOR is written under a temporary name beside its
// target and renamed over it only when complete).
#pragma once

#include <event2/event.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "core/common/util.hpp"

namespace moat {

enum class FileLock { kRead, kWrite };

// Tries an open-file-description lock on the whole file (F_OFD_SETLK: it lives as
// long as the descriptor and conflicts with vsftpd's fcntl locks). True when another
// process holds a conflicting lock; false when taken, or when the file system has no
// locks (then the transfer goes on unlocked, as vsftpd's does).
bool file_lock_busy(int fd, FileLock kind);

// Waits for a lock without blocking the event loop (ABOR, STAT and timeouts keep
// working): retries on a timer, 10 ms doubling to 200 ms, until the lock is taken or
// timeout_seconds (0: none) have passed. done(taken) is called once, from the loop,
// and may destroy this object.
class LockWait {
 public:
  using Done = std::function<void(bool taken)>;
  LockWait(event_base* base, int fd, FileLock kind, unsigned timeout_seconds, Done done);
  ~LockWait();
  LockWait(const LockWait&) = delete;
  LockWait& operator=(const LockWait&) = delete;

 private:
  static void on_timer(evutil_socket_t, short, void* self);
  void arm();

  int fd_;
  FileLock kind_;
  Done done_;
  event* timer_ = nullptr;
  long delay_ms_ = 10;
  long waited_ms_ = 0;
  long limit_ms_;
};

// ".NAME.moat-SUFFIX" in the directory of `target` (a path as the client gave it);
// NAME is shortened so that the last component fits in NAME_MAX bytes.
std::string upload_temp_name(std::string_view target, std::string_view suffix);

// The temporary file of an atomic upload. commit() renames it over the target; one
// destroyed without a commit is removed, so every way a transfer can end (failure,
// ABOR, timeout, the session ending) leaves no temporary file behind. Only a killed
// worker leaves one.
class TempUpload {
 public:
  TempUpload() = default;  // none: the upload writes in place
  // Creates the file (O_EXCL, an unpredictable name, `mode` before the umask).
  // On failure errno is open's.
  static Result<std::pair<TempUpload, UniqueFd>> create(const std::string& target, unsigned mode);
  TempUpload(TempUpload&& o) noexcept { *this = std::move(o); }
  TempUpload& operator=(TempUpload&& o) noexcept;
  TempUpload(const TempUpload&) = delete;
  TempUpload& operator=(const TempUpload&) = delete;
  ~TempUpload() { discard(); }

  bool active() const { return !temp_.empty(); }
  Status commit();
  void discard();

 private:
  std::string temp_;
  std::string target_;
};

}  // namespace moat
