// SPDX-License-Identifier: GPL-2.0-or-later
// tcp_wrappers' option fields: refused, except a lone allow or deny.
#include "privsep/wrappers_options.hpp"

#include <strings.h>

#include <array>

namespace moat {
namespace {

// hosts_options(5), in libwrap's order.
constexpr std::array<std::string_view, kUnknownOption> kOptionNames = {
    "user",   "group",  "umask", "linger",   "keepalive", "spawn", "twist",
    "rfc931", "setenv", "nice",  "severity", "allow",     "deny",  "banners"};

constexpr std::string_view kBlanks = " \t\r\n";

std::string_view chop(std::string_view s) {
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

// The next `:`-separated option of rest (advanced past it); `\:` does not separate.
std::string_view next_option(std::string_view& rest) {
  std::size_t i = 0;
  while (i < rest.size() && !(rest[i] == ':' && (i == 0 || rest[i - 1] != '\\'))) ++i;
  const std::string_view option = rest.substr(0, i);
  rest.remove_prefix(i < rest.size() ? i + 1 : i);
  return chop(option);
}

bool is_keyword(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

OptionField classify_option_field(std::string_view field) {
  std::string_view rest = field;
  const std::string_view first = next_option(rest);
  const std::string_view key = first.substr(0, first.find_first_of("= \t\r\n"));
  const bool lone = key.size() == first.size() && chop(rest).empty();
  if (lone && is_keyword(key, "allow")) return {OptionField::kAllow, {}};
  if (lone && is_keyword(key, "deny")) return {OptionField::kDeny, {}};
  return {OptionField::kRefused, key};
}

std::string_view wrappers_option_name(unsigned index) {
  return index < kOptionNames.size() ? kOptionNames[index] : "an unknown option";
}

unsigned wrappers_option_index(std::string_view keyword) {
  for (unsigned i = 0; i < kOptionNames.size(); ++i)
    if (is_keyword(keyword, kOptionNames[i])) return i;
  return kUnknownOption;
}

}  // namespace moat
