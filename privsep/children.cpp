// SPDX-License-Identifier: GPL-2.0-or-later
// Bounded waits for a session's children: a pidfd where the kernel has one (5.3),
// else short WNOHANG polls; SIGKILL when the grace period is over.
#include "privsep/children.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "core/common/util.hpp"

namespace moat {
namespace {

// True once pid has exited (it is then still to be reaped), false after grace.
bool exits_within(pid_t pid, std::chrono::milliseconds grace) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    do n = poll(&p, 1, static_cast<int>(grace.count()));
    while (n < 0 && errno == EINTR);
    return n > 0;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  siginfo_t info{};
  while (std::chrono::steady_clock::now() < deadline) {
    info.si_pid = 0;
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
      return true;  // nothing to wait for: waitpid below returns at once
    if (info.si_pid == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

int reap_within(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return -1;
  if (!exits_within(pid, grace)) kill(pid, SIGKILL);
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  return r == pid ? status : -1;
}

}  // namespace moat
