// SPDX-License-Identifier: GPL-2.0-or-later
// Small shared vocabulary: an owned file descriptor and a value-or-error result.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <variant>

namespace moat {

// Owns one file descriptor and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Error {
  std::string message;
};

struct Ok {};

// A value or an error message; callers test it on the line that produced it.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Ok>;

inline Error fail(std::string message) { return Error{std::move(message)}; }

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as plain AF_INET; others unchanged.
void sockaddr_unmap(sockaddr_storage& ss);

// TCP_NODELAY on a control connection: a reply goes out when written, instead of
// waiting (Nagle) for the client to acknowledge the previous one, which a client
// delays by up to 40 ms. A socket that is not TCP is left as it is.
void set_tcp_nodelay(int fd);

// strerror(errno) as a std::string, thread-safe.
std::string errno_text(int err);

}  // namespace moat
