// SPDX-License-Identifier: GPL-2.0-or-later
// The master's side of the Redis child: the fork, and non-blocking sends and reads. The
// child is distrusted as a client would be: every message is decoded with checked
// bounds (link_message.cpp) before the master acts on it.
#include "modules/mod_iplimit/redis_link.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "modules/mod_iplimit/redis_child.hpp"

RedisLink::RedisLink(RedisLink&& other) noexcept { *this = std::move(other); }

RedisLink& RedisLink::operator=(RedisLink&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(pid_, other.pid_);
  std::swap(owner_, other.owner_);
  std::swap(spoke_, other.spoke_);
  return *this;
}

// Only the master closes it: session processes inherit this object through fork but
// not the descriptor (the core closes it), whose number may mean something else there.
RedisLink::~RedisLink() {
  if (fd_ >= 0 && owner_is_self()) close(fd_);
}

bool RedisLink::owner_is_self() const { return owner_ == getpid(); }

std::optional<std::string> RedisLink::start(const RedisSettings& s, RedisLink& out) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return std::string("socketpair: ") + std::strerror(errno);
  const pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return std::string("fork: ") + std::strerror(errno);
  }
  if (pid == 0) {
    close(sv[0]);
    redis_child_main(s, sv[1]);  // never returns
  }
  close(sv[1]);
  RedisLink link;
  link.fd_ = sv[0];
  link.pid_ = pid;
  link.owner_ = getpid();
  out = std::move(link);
  return std::nullopt;
}

bool RedisLink::send(const LinkMessage& m) {
  if (fd_ < 0) return false;
  const std::string text = link_encode(m);
  return ::send(fd_, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
         static_cast<ssize_t>(text.size());
}

std::vector<LinkMessage> RedisLink::drain() {
  std::vector<LinkMessage> out;
  char buf[kLinkMessageMax + 1];
  while (fd_ >= 0) {
    const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {  // the child is gone
      close(fd_);
      fd_ = -1;
    }
    if (n <= 0) break;
    spoke_ = true;
    if (auto m = link_decode(std::string_view(buf, static_cast<std::size_t>(n))))
      out.push_back(std::move(*m));
  }
  return out;
}
