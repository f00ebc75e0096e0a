// SPDX-License-Identifier: GPL-2.0-or-later
// deny_file and hide_file: vsftpd's file name patterns ("{*.mp3,*.mov,.private}"),
// parsed once at start-up and matched against the names and paths clients give.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

// A parsed pattern. vsftpd's syntax: '*' (any bytes, '/' included), '?' (one byte),
// and {a,b,...} lists of alternatives (not nested, several allowed:
// "{a,b}.{c,d}"); every other byte is literal. No [..] classes.
struct FilterPattern {
  std::string text;                // as written in ftpd.conf; empty: matches nothing
  std::vector<std::string> globs;  // the braces expanded: each alternative in full
  bool empty() const { return text.empty(); }
};

// Errors on '{' without '}', nested '{', '}' without '{', and on patterns whose
// expansion would be unreasonably large.
Result<FilterPattern> filter_parse(std::string_view text);

// hide_file: a directory entry's name. True if a glob matches the whole name, or
// (vsftpd's other rule) the name contains the pattern text literally.
bool filter_match_name(const FilterPattern& p, std::string_view name);

// deny_file: a path as the client gave it (`arg`) and the same path from the
// session root (`absolute`). True if the literal rule holds for `arg`, or a glob
// matches `arg`, `arg` or `absolute` normalised, or any one component of `arg`
// (so "dir/.private/x", "./.private" and "/./.private" are all caught).
bool filter_match_path(const FilterPattern& p, std::string_view arg, std::string_view absolute);

// Whole-string match of one glob ('*' and '?' only); linear space, no recursion.
bool glob_match(std::string_view glob, std::string_view text);

// "//", "/./" and "dir/.." folded without touching the file system. An absolute
// path never climbs above "/"; a relative one keeps its leading "..".
std::string path_normalize(std::string_view path);

}  // namespace moat
