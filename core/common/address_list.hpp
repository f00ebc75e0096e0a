// SPDX-License-Identifier: GPL-2.0-or-later
// A list of addresses and CIDR blocks from the configuration ("10.0.0.1, 192.0.2.0/24,
// 2001:db8::/32"), and whether a peer is in it. IPv4-mapped IPv6 peers match IPv4 blocks.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

class AddressList {
 public:
  static Result<AddressList> parse(std::string_view text);
  bool empty() const { return blocks_.empty(); }
  bool contains(const sockaddr_storage& peer) const;

 private:
  struct Block {
    int family = 0;
    std::array<uint8_t, 16> bytes{};
    unsigned prefix = 0;  // bits that must match
  };
  static Result<Block> parse_block(std::string_view item);
  std::vector<Block> blocks_;
};

}  // namespace moat
