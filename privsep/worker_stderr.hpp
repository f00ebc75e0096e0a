// SPDX-License-Identifier: GPL-2.0-or-later
// A worker's stderr: a pipe the helper reads, never the terminal or journal the master
// writes to. Each line reaches the operator behind "moatftpd: session ADDR: worker PID: ",
// which the helper writes and the worker cannot, with control bytes escaped, so code
// running in a worker cannot forge a line of the helper's (issue 11, point 4).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

class WorkerStderr {
 public:
  explicit WorkerStderr(std::string session) : session_(std::move(session)) {}

  // A pipe for the worker about to start: its write end, to become that worker's fd 2.
  Result<UniqueFd> open();
  // The pid of the worker given the last write end (0: none, the pipe is dropped).
  void started(pid_t pid);
  // The read ends to poll, appended to fds.
  void watch(std::vector<pollfd>& fds) const;
  // Relays what is readable; ready holds the entries watch() appended, in order.
  void relay(std::span<const pollfd> ready);
  // Relays whatever is left in every pipe (a worker gone, or the session ending).
  void drain();

 private:
  struct Pipe {
    UniqueFd fd;
    pid_t pid = 0;
    std::string line;    // a line not yet ended
    bool cutting = false;  // the rest of an over-long line is dropped
    std::chrono::steady_clock::time_point window{};
    unsigned lines = 0;    // in the current window
    unsigned dropped = 0;  // over the rate in the current window
  };
  bool read_some(Pipe& p);  // false: nothing more for now, or closed (EOF, an error)
  void forget_closed();
  void take(Pipe& p, const char* data, size_t n);
  void emit(Pipe& p, const std::string& text, bool cut);
  void emit_line(const Pipe& p, const std::string& text) const;

  std::string session_;
  std::vector<Pipe> pipes_;
};

// A worker's text made safe to print: bytes below 0x20, from 0x7f and '\' as \xNN.
std::string escape_worker_text(const std::string& text);

}  // namespace moat
