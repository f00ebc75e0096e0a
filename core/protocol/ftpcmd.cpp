// SPDX-License-Identifier: GPL-2.0-or-later
// Parsing of control-connection input (command lines, Telnet, PORT/EPRT/EPSV
// arguments) and the formatting of the replies that carry addresses.
#include "core/protocol/ftpcmd.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

namespace moat {

namespace {

constexpr unsigned char kIac = 255;
constexpr unsigned char kWill = 251;
constexpr unsigned char kDont = 254;
constexpr size_t kMaxVerb = 8;

bool is_ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// Decimal digits only (no sign, no spaces), at most max_digits, value <= max.
std::optional<unsigned> parse_decimal(std::string_view s, size_t max_digits, unsigned max) {
  if (s.empty() || s.size() > max_digits || !all_digits(s)) return std::nullopt;
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > max) return std::nullopt;
  return v;
}

// Splits s at every `delim`; returns false if there are not exactly n fields.
template <size_t N>
bool split_exact(std::string_view s, char delim, std::string_view (&out)[N]) {
  size_t field = 0;
  while (true) {
    size_t pos = s.find(delim);
    if (field == N - 1) {
      if (pos != std::string_view::npos) return false;
      out[field] = s;
      return true;
    }
    if (pos == std::string_view::npos) return false;
    out[field++] = s.substr(0, pos);
    s.remove_prefix(pos + 1);
  }
}

// Length of the UTF-8 sequence introduced by lead byte b, or 0 if b cannot lead.
size_t utf8_seq_len(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;  // continuation byte, overlong lead C0/C1, or beyond U+10FFFF
}

// RFC 3629 table: the second byte's range depends on the lead byte; this is what
// rules out overlongs, surrogates and code points above U+10FFFF.
bool utf8_second_ok(unsigned char lead, unsigned char b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return b >= 0x80 && b <= 0xBF;
}

bool is_continuation(unsigned char b) { return b >= 0x80 && b <= 0xBF; }

sockaddr_storage make_v4(const in_addr& a, uint16_t port) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_addr = a;
  sin->sin_port = htons(port);
  return ss;
}

sockaddr_storage make_v6(const in6_addr& a, uint16_t port) {
  sockaddr_storage ss{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = a;
  sin6->sin6_port = htons(port);
  return ss;
}

}  // namespace

std::string telnet_strip(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c != kIac) {
      out.push_back(line[i]);
      continue;
    }
    if (i + 1 >= line.size()) break;  // a lone trailing IAC carries nothing
    auto cmd = static_cast<unsigned char>(line[i + 1]);
    if (cmd == kIac) {
      out.push_back(static_cast<char>(kIac));
      ++i;
    } else if (cmd >= kWill && cmd <= kDont) {
      i += 2;  // option negotiation: IAC verb option
    } else {
      ++i;  // IAC IP, IAC DM, ...
    }
  }
  return out;
}

bool verb_listed(std::string_view list, std::string_view verb) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (list.substr(0, comma) == verb) return true;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return false;
}

Result<Command> command_parse(std::string_view line) {
  if (line.empty()) return fail("empty command line");
  if (line.size() > kMaxCommandLine) return fail("command line too long");
  if (line.find('\0') != std::string_view::npos) return fail("NUL byte in command line");
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  if (verb.empty() || verb.size() > kMaxVerb) return fail("bad command verb");
  Command cmd;
  cmd.verb.reserve(verb.size());
  for (char c : verb) {
    if (!is_ascii_letter(c)) return fail("bad command verb");
    cmd.verb.push_back(ascii_upper(c));
  }
  if (sp != std::string_view::npos) cmd.arg.assign(line.substr(sp + 1));
  return cmd;
}

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto lead = static_cast<unsigned char>(s[i]);
    size_t len = utf8_seq_len(lead);
    if (len == 0 || i + len > s.size()) return false;
    if (len > 1 && !utf8_second_ok(lead, static_cast<unsigned char>(s[i + 1]))) return false;
    for (size_t k = 2; k < len; ++k)
      if (!is_continuation(static_cast<unsigned char>(s[i + k]))) return false;
    i += len;
  }
  return true;
}

Result<sockaddr_storage> parse_port_arg(std::string_view arg) {
  std::string_view f[6];
  if (!split_exact(arg, ',', f)) return fail("PORT needs six comma-separated numbers");
  unsigned v[6];
  for (size_t i = 0; i < 6; ++i) {
    auto n = parse_decimal(f[i], 3, 255);
    if (!n) return fail("PORT field is not a number 0-255");
    v[i] = *n;
  }
  uint32_t host = (v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3];
  auto port = static_cast<uint16_t>((v[4] << 8) | v[5]);
  if (port == 0) return fail("PORT port 0");
  in_addr a{};
  a.s_addr = htonl(host);
  return make_v4(a, port);
}

EprtArg parse_eprt_arg(std::string_view arg) {
  EprtArg r;
  if (arg.size() < 2) return r;
  char d = arg.front();
  if (d < 33 || d > 126 || is_digit(d) || arg.back() != d) return r;
  // Between the first and last delimiter: proto d addr d port.
  std::string_view f[3];
  if (!split_exact(arg.substr(1, arg.size() - 2), d, f)) return r;
  if (!all_digits(f[0])) return r;
  auto port = parse_decimal(f[2], 5, 65535);
  bool v4 = f[0] == "1", v6 = f[0] == "2";
  if (!v4 && !v6) {
    r.status = EprtArg::kUnsupportedFamily;
    return r;
  }
  if (!port || *port == 0 || f[1].empty() || f[1].size() >= INET6_ADDRSTRLEN) return r;
  std::string host(f[1]);
  if (v4) {
    in_addr a{};
    if (inet_pton(AF_INET, host.c_str(), &a) != 1) return r;
    r.addr = make_v4(a, static_cast<uint16_t>(*port));
  } else {
    in6_addr a{};
    if (inet_pton(AF_INET6, host.c_str(), &a) != 1) return r;
    r.addr = make_v6(a, static_cast<uint16_t>(*port));
  }
  r.status = EprtArg::kOk;
  return r;
}

EpsvArg parse_epsv_arg(std::string_view arg) {
  if (arg.empty()) return EpsvArg::kAny;
  if (arg == "1") return EpsvArg::kIpv4;
  if (arg == "2") return EpsvArg::kIpv6;
  if (arg.size() == 3 && ascii_upper(arg[0]) == 'A' && ascii_upper(arg[1]) == 'L' &&
      ascii_upper(arg[2]) == 'L')
    return EpsvArg::kAll;
  if (all_digits(arg)) return EpsvArg::kUnsupported;
  return EpsvArg::kSyntax;
}

std::string format_pasv_reply(const in_addr& addr, uint16_t port) {
  const auto* b = reinterpret_cast<const unsigned char*>(&addr.s_addr);
  return "227 Entering Passive Mode (" + std::to_string(b[0]) + "," + std::to_string(b[1]) +
         "," + std::to_string(b[2]) + "," + std::to_string(b[3]) + "," +
         std::to_string(port >> 8) + "," + std::to_string(port & 0xFF) + ").";
}

std::string format_epsv_reply(uint16_t port) {
  return "229 Entering Extended Passive Mode (|||" + std::to_string(port) + "|)";
}

std::string quote_257(std::string_view path) {
  std::string out;
  out.reserve(path.size() + 2);
  for (char c : path) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out;
}

}  // namespace moat
