// SPDX-License-Identifier: GPL-2.0-or-later
// The master's side of iplimit_backend=redis: a socketpair to the unprivileged child
// that alone talks to Redis (redis_child.cpp). The master never waits on it: it sends
// without blocking and reads what the child has said whenever a hook runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "modules/mod_iplimit/link_message.hpp"

// What the child is started with; read from the options in the master, before the fork.
struct RedisSettings {
  std::string host;
  unsigned port = 6379;
  std::string prefix;
  unsigned timeout_ms = 1000;
  unsigned count_ttl = 300;
  unsigned failure_window = 600;
  unsigned max_failures = 0;
  unsigned ban_time = 600;
  uid_t uid = 0;  // nopriv_user's: the child needs no privilege
  gid_t gid = 0;
  std::string chroot_dir;  // secure_chroot_dir: the child's root
  std::function<void(const std::string&)> log;  // the module's log line
};

class RedisLink {
 public:
  RedisLink() = default;
  RedisLink(RedisLink&& other) noexcept;
  RedisLink& operator=(RedisLink&& other) noexcept;
  ~RedisLink();

  // Forks the child; an error text when it cannot be started.
  static std::optional<std::string> start(const RedisSettings& s, RedisLink& out);
  bool running() const { return fd_ >= 0; }
  pid_t pid() const { return pid_; }
  // The child has said something: it got through its sandbox to its loop.
  bool spoke() const { return spoke_; }
  // Without blocking; false when the child's queue is full or it is gone.
  bool send(const LinkMessage& m);
  // Every message waiting, without blocking; an invalid one is skipped. At the
  // child's end (it died) the link closes and running() turns false.
  std::vector<LinkMessage> drain();

 private:
  bool owner_is_self() const;

  int fd_ = -1;
  pid_t pid_ = -1;
  pid_t owner_ = -1;  // the master
  bool spoke_ = false;
};
