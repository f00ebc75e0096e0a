// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"
#include "privsep/worker_stderr.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace moat {
namespace {

constexpr size_t kMaxLine = 1024;  // longer lines are cut: the journal's lines stay lines
constexpr unsigned kMaxLinesPerWindow = 64;  // a worker cannot flood the operator's log
constexpr std::chrono::seconds kWindow{10};

}  // namespace

std::string escape_worker_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
      continue;
    }
    char hex[5];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    out += hex;
  }
  return out;
}

Result<UniqueFd> WorkerStderr::open() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail("pipe: " + errno_text(errno));
  // The helper never waits on a worker's words; the worker may wait on the helper.
  if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
    const int err = errno;
    close(p[0]);
    close(p[1]);
    return fail("fcntl: " + errno_text(err));
  }
  Pipe pipe;
  pipe.fd.reset(p[0]);
  pipes_.push_back(std::move(pipe));
  return UniqueFd(p[1]);
}

void WorkerStderr::started(pid_t pid) {
  if (pipes_.empty()) return;
  if (pid > 0) pipes_.back().pid = pid;
  else pipes_.pop_back();
}

void WorkerStderr::watch(std::vector<pollfd>& fds) const {
  for (const Pipe& p : pipes_) fds.push_back({p.fd.get(), POLLIN, 0});
}

void WorkerStderr::relay(std::span<const pollfd> ready) {
  for (size_t i = 0; i < pipes_.size() && i < ready.size(); ++i)
    if (ready[i].revents != 0) read_some(pipes_[i]);
  forget_closed();
}

void WorkerStderr::drain() {
  for (Pipe& p : pipes_)
    while (read_some(p)) {
    }
  forget_closed();
}

void WorkerStderr::forget_closed() {
  std::erase_if(pipes_, [](const Pipe& p) { return !p.fd; });
}

// One read: false when nothing more is there for now; at EOF the unended line is relayed and the pipe closed.
bool WorkerStderr::read_some(Pipe& p) {
  char buf[4096];
  const ssize_t n = read(p.fd.get(), buf, sizeof buf);
  if (n > 0) {
    take(p, buf, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (!p.line.empty() && !p.cutting) emit(p, p.line, false);
  p.fd.reset();
  return false;
}

void WorkerStderr::take(Pipe& p, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == '\n') {
      if (!p.cutting) emit(p, p.line, false);
      p.line.clear();
      p.cutting = false;
    } else if (!p.cutting) {
      p.line += data[i];
      if (p.line.size() >= kMaxLine) {
        emit(p, p.line, true);
        p.line.clear();
        p.cutting = true;
      }
    }
  }
}

// Rate: kMaxLinesPerWindow per kWindow per worker; what is dropped is counted and said.
void WorkerStderr::emit(Pipe& p, const std::string& text, bool cut) {
  const auto now = std::chrono::steady_clock::now();
  if (now - p.window >= kWindow) {
    if (p.dropped)
      emit_line(p, "[" + std::to_string(p.dropped) + " lines dropped: over the rate]");
    p.window = now;
    p.lines = 0;
    p.dropped = 0;
  }
  if (++p.lines > kMaxLinesPerWindow) {
    ++p.dropped;
    return;
  }
  emit_line(p, escape_worker_text(text) + (cut ? " [cut]" : ""));
}

// One write(2) per line, so that lines of several processes do not interleave.
void WorkerStderr::emit_line(const Pipe& p, const std::string& text) const {
  const std::string line = "moatftpd: session " + session_ + ": worker " +
                           std::to_string(p.pid) + ": " + text + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace moat
