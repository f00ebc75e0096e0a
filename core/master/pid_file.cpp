// SPDX-License-Identifier: GPL-2.0-or-later
// pid_file=: an flock, not the pid inside, says whether a master runs: the lock dies
// with its holder, so a stale file from a crash never blocks a start and a recycled
// pid never fakes a live master. Sessions never hold it: helpers close every
// descriptor they were not given.
#include "core/master/pid_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace moat {

Result<PidFile> PidFile::claim(const std::string& path) {
  PidFile p;
  if (path.empty()) return p;
  p.fd_ = UniqueFd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!p.fd_) return fail("pid_file " + path + ": " + errno_text(errno));
  if (flock(p.fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = pread(p.fd_.get(), buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && pid.back() == '\n') pid.pop_back();
    return fail("pid_file " + path + " is held by a running moatftpd (pid " + pid + ")");
  }
  p.path_ = path;
  p.owner_ = getpid();  // a master that fails before it listens removes it too
  return p;
}

Status PidFile::write_pid() {
  if (!fd_) return Ok{};
  const std::string text = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_.get(), 0) != 0 ||
      pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    return fail("pid_file " + path_ + ": " + errno_text(errno));
  owner_ = getpid();  // after daemon(), the detached child
  return Ok{};
}

PidFile::~PidFile() {
  if (owner_ != 0 && owner_ == getpid()) unlink(path_.c_str());
}

}  // namespace moat
