// SPDX-License-Identifier: GPL-2.0-or-later
// Parsing what the client sends on the control connection: command lines,
// Telnet sequences, and the address arguments of PORT, EPRT and EPSV.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/sockaddr.hpp"
#include "core/common/util.hpp"

namespace moat {

constexpr size_t kMaxCommandLine = 4096;  // bytes, without CRLF

struct Command {
  std::string verb;  // upper-cased, ASCII letters only
  std::string arg;   // everything after the first space, verbatim
};

// Removes Telnet IAC sequences (IAC IAC becomes one 0xFF byte; IAC WILL/WONT/DO/DONT x
// and other IAC x pairs are dropped), as clients send IAC IP IAC DM before ABOR.
std::string telnet_strip(std::string_view line);

// Splits "VERB arg" (line without CRLF, Telnet already stripped). Errors on an empty
// line, a verb that is not 1-8 ASCII letters, or a NUL byte anywhere.
Result<Command> command_parse(std::string_view line);

// cmds_allowed/cmds_denied: true if `list`, comma-separated verbs ("PASV,RETR,QUIT"),
// names `verb` (upper-cased by command_parse). Exact match, as vsftpd: "retr" or
// " RETR" in the list names nothing.
bool verb_listed(std::string_view list, std::string_view verb);

// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool utf8_valid(std::string_view s);

// "h1,h2,h3,h4,p1,p2" -> AF_INET sockaddr. Error on anything else.
Result<sockaddr_storage> parse_port_arg(std::string_view arg);

// "<d>proto<d>addr<d>port<d>" (RFC 2428).
struct EprtArg {
  enum Status { kOk, kSyntax, kUnsupportedFamily } status = kSyntax;
  sockaddr_storage addr{};
};
EprtArg parse_eprt_arg(std::string_view arg);

// EPSV argument: "", "1", "2", "ALL" (case-insensitive); other numbers are
// kUnsupported (reply 522), anything else kSyntax (501).
enum class EpsvArg { kAny, kIpv4, kIpv6, kAll, kUnsupported, kSyntax };
EpsvArg parse_epsv_arg(std::string_view arg);

// "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)." for an IPv4 address and port.
std::string format_pasv_reply(const in_addr& addr, uint16_t port);
// "229 Entering Extended Passive Mode (|||port|)"
std::string format_epsv_reply(uint16_t port);

// Doubles every '"' as RFC 959 asks for 257 replies: "/a""b".
std::string quote_257(std::string_view path);

}  // namespace moat
