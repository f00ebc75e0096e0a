// SPDX-License-Identifier: GPL-2.0-or-later
// Address/CIDR lists: parsed once with the configuration, matched per connection.
#include "core/common/address_list.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace moat {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_prefix(std::string_view s, unsigned max, unsigned& out) {
  if (s.empty() || s.size() > 3) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  return out <= max;
}

bool prefix_equal(const uint8_t* a, const uint8_t* b, unsigned bits) {
  const unsigned whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

Result<AddressList::Block> AddressList::parse_block(std::string_view item) {
  const size_t slash = item.find('/');
  const std::string addr(item.substr(0, slash));
  Block b;
  if (inet_pton(AF_INET, addr.c_str(), b.bytes.data()) == 1) {
    b.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), b.bytes.data()) == 1) {
    b.family = AF_INET6;
  } else {
    return fail("'" + std::string(item) + "' is not an address or address/prefix");
  }
  const unsigned max = b.family == AF_INET ? 32 : 128;
  b.prefix = max;
  if (slash != item.npos && !parse_prefix(item.substr(slash + 1), max, b.prefix))
    return fail("'" + std::string(item) + "' has a bad prefix length");
  return b;
}

Result<AddressList> AddressList::parse(std::string_view text) {
  AddressList list;
  while (!trim(text).empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == text.npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) return fail("empty entry in address list");
    auto b = parse_block(item);
    if (!b) return fail(b.error());
    list.blocks_.push_back(*b);
  }
  return list;
}

bool AddressList::contains(const sockaddr_storage& peer) const {
  sockaddr_storage p = peer;
  sockaddr_unmap(p);
  const uint8_t* bytes = nullptr;
  if (p.ss_family == AF_INET)
    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in&>(p).sin_addr);
  else if (p.ss_family == AF_INET6)
    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6&>(p).sin6_addr);
  if (!bytes) return false;
  for (const Block& b : blocks_)
    if (b.family == p.ss_family && prefix_equal(bytes, b.bytes.data(), b.prefix)) return true;
  return false;
}

}  // namespace moat
