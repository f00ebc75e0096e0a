// SPDX-License-Identifier: GPL-2.0-or-later
// The messages between mod_iplimit's master side and its Redis child, also the payload
// of the Redis channel and the lines of ban_file: short text with a checked decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// One message either way, one datagram (SOCK_SEQPACKET), as text "KIND ADDR [NUMBER]".
// master -> child: kFailure (a failed login), kBan (a ban this node made: expiry),
//                  kUnban (an operator's --unban), kCount (this node's sessions).
// child -> master: kBan and kUnban (as Redis knows them, from any node), kCount (the
//                  other nodes' sessions from ADDR), kDown and kUp (Redis reachable).
enum class LinkKind : char {
  kFailure = 'F',
  kBan = 'B',
  kUnban = 'U',
  kCount = 'C',
  kDown = 'D',
  kUp = 'R',
};

struct LinkMessage {
  LinkKind kind;
  std::string address;  // numeric IPv4 or IPv6, as inet_ntop writes it
  uint64_t number = 0;  // kBan: expiry in Unix seconds; kCount: sessions
};

constexpr std::size_t kLinkMessageMax = 128;

std::string link_encode(const LinkMessage& m);
// Checked: an unknown kind, an address that is not numeric, or a bad number is nullopt.
// The address comes back canonical ("0::1" is "::1"), as the master's table keys it.
std::optional<LinkMessage> link_decode(std::string_view text);
// The same canonical form of an address given by an operator; nullopt if not numeric.
std::optional<std::string> link_address(const std::string& text);
