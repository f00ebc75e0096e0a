// SPDX-License-Identifier: GPL-2.0-or-later
// PROXY protocol parsing (HAProxy's proxy-protocol.txt). Every field is checked
// against the spec's grammar and every length against the bytes at hand; anything
// else is an error, never a guess.
#include "core/master/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace moat {
namespace {

using Parsed = Result<std::optional<ProxyHeader>>;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV1Max = 107;  // the spec's worst case, CRLF included
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr size_t kV2Preamble = 16;

// True while `bytes` could still grow into `whole`.
bool prefix_of(std::string_view bytes, std::string_view whole) {
  return whole.substr(0, bytes.size()) == bytes.substr(0, whole.size());
}

// Splits `s` at single spaces; false if a field is empty (two spaces in a row).
bool split_fields(std::string_view s, std::string_view* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    size_t sp = i + 1 == n ? s.npos : s.find(' ');
    if (i + 1 < n && sp == s.npos) return false;
    out[i] = s.substr(0, sp);
    if (out[i].empty()) return false;
    s = sp == s.npos ? std::string_view() : s.substr(sp + 1);
  }
  return true;
}

// A decimal port 0..65535 without sign or leading zero.
std::optional<uint16_t> v1_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// inet_pton accepts exactly the spec's forms: dotted quad for TCP4, RFC 4291 for TCP6.
bool v1_address(int family, std::string_view text, uint16_t port, sockaddr_storage& out) {
  if (text.size() > INET6_ADDRSTRLEN) return false;
  const std::string s(text);
  out = {};
  if (family == AF_INET) {
    auto& a = reinterpret_cast<sockaddr_in&>(out);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    return inet_pton(AF_INET, s.c_str(), &a.sin_addr) == 1;
  }
  auto& a = reinterpret_cast<sockaddr_in6&>(out);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  return inet_pton(AF_INET6, s.c_str(), &a.sin6_addr) == 1;
}

// "TCP4 src dst sport dport" or "TCP6 ...", the line without "PROXY " and CRLF.
Parsed v1_addresses(std::string_view line, ProxyHeader h) {
  std::string_view f[5];
  if (!split_fields(line, f, 5)) return fail("PROXY v1: malformed address fields");
  const int family = f[0] == "TCP4" ? AF_INET : f[0] == "TCP6" ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC) return fail("PROXY v1: unknown protocol");
  auto sport = v1_port(f[3]);
  auto dport = v1_port(f[4]);
  if (!sport || !dport) return fail("PROXY v1: bad port");
  if (!v1_address(family, f[1], *sport, h.source) ||
      !v1_address(family, f[2], *dport, h.destination))
    return fail("PROXY v1: bad address");
  return std::optional<ProxyHeader>(h);
}

Parsed parse_v1(std::string_view bytes) {
  const std::string_view window = bytes.substr(0, kV1Max);
  const size_t cr = window.find('\r');
  if (cr == window.npos) {
    if (window.find('\n') != window.npos) return fail("PROXY v1: line ends without CR");
    if (bytes.size() >= kV1Max) return fail("PROXY v1: line too long");
    return std::optional<ProxyHeader>();
  }
  if (cr + 1 == bytes.size()) return std::optional<ProxyHeader>();
  if (bytes[cr + 1] != '\n') return fail("PROXY v1: CR without LF");
  const std::string_view line = bytes.substr(kV1Prefix.size(), cr - kV1Prefix.size());
  if (line.find('\n') != line.npos) return fail("PROXY v1: stray LF");
  ProxyHeader h;
  h.length = cr + 2;
  // UNKNOWN may carry anything up to CRLF, which the receiver ignores.
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    h.local = true;
    return std::optional<ProxyHeader>(h);
  }
  return v1_addresses(line, h);
}

uint16_t be16(const unsigned char* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// TLVs are skipped, but each must fit exactly: a truncated one is a broken header.
bool v2_tlvs_fit(std::string_view tlvs) {
  while (!tlvs.empty()) {
    if (tlvs.size() < 3) return false;
    const size_t len = be16(reinterpret_cast<const unsigned char*>(tlvs.data() + 1));
    if (tlvs.size() - 3 < len) return false;
    tlvs.remove_prefix(3 + len);
  }
  return true;
}

void v2_inet(const unsigned char* addrs, ProxyHeader& h) {
  auto& s = reinterpret_cast<sockaddr_in&>(h.source);
  auto& d = reinterpret_cast<sockaddr_in&>(h.destination);
  s.sin_family = d.sin_family = AF_INET;
  std::memcpy(&s.sin_addr, addrs, 4);
  std::memcpy(&d.sin_addr, addrs + 4, 4);
  std::memcpy(&s.sin_port, addrs + 8, 2);  // network order on both sides
  std::memcpy(&d.sin_port, addrs + 10, 2);
}

void v2_inet6(const unsigned char* addrs, ProxyHeader& h) {
  auto& s = reinterpret_cast<sockaddr_in6&>(h.source);
  auto& d = reinterpret_cast<sockaddr_in6&>(h.destination);
  s.sin6_family = d.sin6_family = AF_INET6;
  std::memcpy(&s.sin6_addr, addrs, 16);
  std::memcpy(&d.sin6_addr, addrs + 16, 16);
  std::memcpy(&s.sin6_port, addrs + 32, 2);
  std::memcpy(&d.sin6_port, addrs + 34, 2);
}

// The address block after the preamble: its size by family, then TLVs to the end.
Parsed v2_body(unsigned char family, std::string_view body, ProxyHeader h) {
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  size_t need = 0;
  if (family == 0x11) {
    need = 12;
    if (body.size() < need) return fail("PROXY v2: address block too short");
    v2_inet(p, h);
  } else if (family == 0x21) {
    need = 36;
    if (body.size() < need) return fail("PROXY v2: address block too short");
    v2_inet6(p, h);
  } else {
    return fail("PROXY v2: unsupported address family or protocol");
  }
  if (!v2_tlvs_fit(body.substr(need))) return fail("PROXY v2: truncated TLV");
  return std::optional<ProxyHeader>(h);
}

Parsed parse_v2(std::string_view bytes) {
  if (bytes.size() < kV2Preamble) return std::optional<ProxyHeader>();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned version = p[12] >> 4, command = p[12] & 0x0f;
  if (version != 2) return fail("PROXY v2: unsupported version");
  if (command > 1) return fail("PROXY v2: unknown command");
  const size_t len = be16(p + 14);
  if (kV2Preamble + len > kProxyHeaderMax) return fail("PROXY v2: header too long");
  if (bytes.size() < kV2Preamble + len) return std::optional<ProxyHeader>();
  ProxyHeader h;
  h.length = kV2Preamble + len;
  const std::string_view body = bytes.substr(kV2Preamble, len);
  // LOCAL (the balancer's own connection, a health check) and PROXY over UNSPEC
  // carry no address to take: the receiver ignores their block, as the spec says.
  if (command == 0 || p[13] == 0x00) {
    h.local = true;
    return std::optional<ProxyHeader>(h);
  }
  return v2_body(p[13], body, h);
}

}  // namespace

Result<std::optional<ProxyHeader>> proxy_header_parse(std::string_view bytes) {
  if (bytes.empty()) return std::optional<ProxyHeader>();
  if (bytes[0] == kV1Prefix[0]) {
    if (!prefix_of(bytes, kV1Prefix)) return fail("not a PROXY header");
    if (bytes.size() <= kV1Prefix.size()) return std::optional<ProxyHeader>();
    return parse_v1(bytes);
  }
  if (!prefix_of(bytes, kV2Signature)) return fail("not a PROXY header");
  if (bytes.size() < kV2Signature.size()) return std::optional<ProxyHeader>();
  return parse_v2(bytes);
}

}  // namespace moat
