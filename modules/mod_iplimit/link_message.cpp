// SPDX-License-Identifier: GPL-2.0-or-later
// Encoding and the checked decoding of link messages ("KIND ADDR [NUMBER]").
#include "modules/mod_iplimit/link_message.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace {

// The address as inet_ntop writes it (the form the master compares), or nullopt.
std::optional<std::string> canonical(const std::string& text) {
  if (text.find('\0') != std::string::npos) return std::nullopt;  // inet_pton would stop there
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6})
    if (inet_pton(family, text.c_str(), buf) == 1 && inet_ntop(family, buf, out, sizeof out))
      return std::string(out);
  return std::nullopt;
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
  auto canon = canonical(std::string(address));
  if (!canon) return std::nullopt;
  m.address = std::move(*canon);
  if (!kind_has_number(m.kind)) return number.empty() ? std::optional(m) : std::nullopt;
  auto n = parse_number(number);
  if (!n) return std::nullopt;
  m.number = *n;
  return m;
}

std::optional<std::string> link_address(const std::string& text) { return canonical(text); }
