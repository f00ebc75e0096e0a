// SPDX-License-Identifier: GPL-2.0-or-later
// ban_file= reading and atomic writing (write a temporary beside it, fsync, rename).
#include "modules/mod_iplimit/ban_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "modules/mod_iplimit/link_message.hpp"

namespace {

// A ban line is a link message without its kind: reuse the link's checked decoder.
std::optional<LinkMessage> parse_line(const std::string& line) {
  auto m = link_decode("B " + line);
  return m && m->kind == LinkKind::kBan ? m : std::nullopt;
}

bool write_all(int fd, const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<BanList> ban_file_load(const std::string& path, uint64_t now, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return BanList{};
    error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  BanList bans;
  std::string line;
  while (std::getline(in, line)) {
    auto m = parse_line(line);
    if (m && m->number > now) bans[m->address] = m->number;
  }
  return bans;
}

std::string ban_file_save(const std::string& path, const BanList& bans) {
  std::ostringstream text;
  for (const auto& [address, expiry] : bans) text << address << ' ' << expiry << '\n';
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  const bool ok = write_all(fd, text.str()) && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    return tmp + ": " + std::strerror(err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return path + ": " + std::strerror(errno);
  return {};
}
