// SPDX-License-Identifier: GPL-2.0-or-later
// The master's side of the Redis child: the message format both sides share, the fork,
// and non-blocking sends and reads. The child is distrusted as a client would be:
// every message is decoded with checked bounds before the master acts on it.
#include "modules/mod_iplimit/redis_link.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "modules/mod_iplimit/redis_child.hpp"

namespace {

bool numeric_address(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

bool known_kind(char c) { return std::strchr("FBUCDR", c) != nullptr && c != '\0'; }

bool kind_has_address(LinkKind k) { return k != LinkKind::kDown && k != LinkKind::kUp; }

bool kind_has_number(LinkKind k) { return k == LinkKind::kBan || k == LinkKind::kCount; }

std::optional<uint64_t> parse_number(std::string_view text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// Splits "A B" at the first space; the second part empty when there is none.
std::pair<std::string_view, std::string_view> split(std::string_view s) {
  const std::size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return {s, {}};
  return {s.substr(0, sp), s.substr(sp + 1)};
}

}  // namespace

std::string link_encode(const LinkMessage& m) {
  std::string out(1, static_cast<char>(m.kind));
  if (kind_has_address(m.kind)) out += " " + m.address;
  if (kind_has_number(m.kind)) out += " " + std::to_string(m.number);
  return out;
}

std::optional<LinkMessage> link_decode(std::string_view text) {
  if (text.empty() || text.size() > kLinkMessageMax || !known_kind(text[0])) return std::nullopt;
  LinkMessage m{static_cast<LinkKind>(text[0]), {}, 0};
  if (!kind_has_address(m.kind)) return text.size() == 1 ? std::optional(m) : std::nullopt;
  if (text.size() < 3 || text[1] != ' ') return std::nullopt;
  auto [address, number] = split(text.substr(2));
  m.address = std::string(address);
  if (!numeric_address(m.address)) return std::nullopt;
  if (!kind_has_number(m.kind)) return number.empty() ? std::optional(m) : std::nullopt;
  auto n = parse_number(number);
  if (!n) return std::nullopt;
  m.number = *n;
  return m;
}

RedisLink::RedisLink(RedisLink&& other) noexcept { *this = std::move(other); }

RedisLink& RedisLink::operator=(RedisLink&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(pid_, other.pid_);
  std::swap(owner_, other.owner_);
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
      out.push_back({LinkKind::kDown, {}, 0});
    }
    if (n <= 0) break;
    if (auto m = link_decode(std::string_view(buf, static_cast<std::size_t>(n))))
      out.push_back(std::move(*m));
  }
  return out;
}
