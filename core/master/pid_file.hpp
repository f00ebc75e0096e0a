// SPDX-License-Identifier: GPL-2.0-or-later
// The master's pid file (pid_file=): claimed with a lock before it listens, so a
// second master refuses to start, written once it has detached, removed at exit.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "core/common/util.hpp"

namespace moat {

class PidFile {
 public:
  PidFile() = default;  // no pid file
  // Opens and locks `path`; fails while a live master holds the lock.
  static Result<PidFile> claim(const std::string& path);
  PidFile(PidFile&& o) noexcept { *this = std::move(o); }
  PidFile& operator=(PidFile&& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(fd_, o.fd_);
    std::swap(owner_, o.owner_);
    return *this;
  }
  ~PidFile();

  // Writes this process's pid; the process that claimed or wrote it last removes the
  // file at exit.
  Status write_pid();

 private:
  std::string path_;
  UniqueFd fd_;  // holds the flock for the master's life
  pid_t owner_ = 0;
};

}  // namespace moat
