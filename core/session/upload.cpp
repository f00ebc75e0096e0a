// SPDX-License-Identifier: GPL-2.0-or-later
// Whole-file locks for transfers and the temporary files of atomic uploads.
#include "core/session/upload.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace moat {
namespace {

constexpr long kFirstRetryMs = 10;
constexpr long kMaxRetryMs = 200;
constexpr int kTempAttempts = 100;
constexpr std::string_view kTempTag = ".moat-";
constexpr size_t kSuffixLen = 6;

std::string random_suffix() {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s(kSuffixLen, '\0');
  for (char& c : s) c = kAlphabet[arc4random_uniform(sizeof kAlphabet - 1)];
  return s;
}

}  // namespace

bool file_lock_busy(int fd, FileLock kind) {
  struct flock fl {};
  fl.l_type = kind == FileLock::kRead ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;  // l_start 0, l_len 0: the whole file, however it grows
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return false;
  return errno == EAGAIN || errno == EACCES;
}

LockWait::LockWait(event_base* base, int fd, FileLock kind, unsigned timeout_seconds, Done done)
    : fd_(fd),
      kind_(kind),
      done_(std::move(done)),
      timer_(evtimer_new(base, on_timer, this)),
      limit_ms_(static_cast<long>(timeout_seconds) * 1000) {
  arm();
}

LockWait::~LockWait() {
  if (timer_) event_free(timer_);
}

void LockWait::arm() {
  timeval tv{0, delay_ms_ * 1000};
  evtimer_add(timer_, &tv);
}

void LockWait::on_timer(evutil_socket_t, short, void* self) {
  auto* w = static_cast<LockWait*>(self);
  w->waited_ms_ += w->delay_ms_;
  bool taken = !file_lock_busy(w->fd_, w->kind_);
  if (!taken && (w->limit_ms_ == 0 || w->waited_ms_ < w->limit_ms_)) {
    w->delay_ms_ = std::min(w->delay_ms_ * 2, kMaxRetryMs);
    return w->arm();
  }
  Done done = std::move(w->done_);  // it may destroy w
  done(taken);
}

std::string upload_temp_name(std::string_view target, std::string_view suffix) {
  size_t slash = target.rfind('/');
  std::string_view dir = slash == std::string_view::npos ? "" : target.substr(0, slash + 1);
  std::string_view name = target.substr(dir.size());
  size_t room = NAME_MAX - 1 - kTempTag.size() - suffix.size();
  return std::string(dir) + "." + std::string(name.substr(0, room)) + std::string(kTempTag) +
         std::string(suffix);
}

Result<std::pair<TempUpload, UniqueFd>> TempUpload::create(const std::string& target,
                                                           unsigned mode) {
  for (int i = 0; i < kTempAttempts; ++i) {
    std::string temp = upload_temp_name(target, random_suffix());
    UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode));
    if (fd) {
      TempUpload t;
      t.temp_ = std::move(temp);
      t.target_ = target;
      return std::pair{std::move(t), std::move(fd)};
    }
    if (errno != EEXIST) {
      const int err = errno;
      Error e = fail(errno_text(err));
      errno = err;  // the caller tells "directory not writable" from the rest
      return e;
    }
  }
  return fail("no free temporary name");
}

TempUpload& TempUpload::operator=(TempUpload&& o) noexcept {
  if (this != &o) {
    discard();
    temp_ = std::exchange(o.temp_, {});
    target_ = std::exchange(o.target_, {});
  }
  return *this;
}

Status TempUpload::commit() {
  if (!active()) return Ok{};
  if (rename(temp_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    discard();
    return fail(errno_text(err));
  }
  temp_.clear();
  return Ok{};
}

void TempUpload::discard() {
  if (active()) unlink(temp_.c_str());
  temp_.clear();
}

}  // namespace moat
