// SPDX-License-Identifier: GPL-2.0-or-later
// The option field of tcp_wrappers rules (hosts_options(5)): moatftpd runs none of them. A lone
// `allow` or `deny` decides as in libwrap; a rule with any other option (spawn, twist, banners,
// user, setenv...) refuses the clients it matches, and says which option it was.
#pragma once

#include <string_view>

namespace moat {

struct OptionField {
  enum Kind { kAllow, kDeny, kRefused } kind = kDeny;
  std::string_view option;  // kRefused: the first option that is not a lone allow/deny
};

// Reads a rule's option field as libwrap does: `:`-separated options (`\:` is a colon within one),
// each a keyword, then a value after blanks or one `=`.
OptionField classify_option_field(std::string_view field);

// libwrap's option keywords, so that the judge can name a refused one to the helper as one byte:
// its index (kUnknownOption for a keyword libwrap does not know).
std::string_view wrappers_option_name(unsigned index);
unsigned wrappers_option_index(std::string_view keyword);
inline constexpr unsigned kUnknownOption = 14;

}  // namespace moat
