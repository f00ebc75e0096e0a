// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: a deny_file/hide_file pattern (first line) parsed and matched
// against a client path (the rest), as server_prepare and the worker use them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/common/filter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  size_t nl = raw.find('\n');
  std::string_view pattern = raw.substr(0, nl);
  std::string_view path = nl == raw.npos ? std::string_view() : raw.substr(nl + 1);
  std::string norm = moat::path_normalize(path);
  if (norm.empty() || norm.size() > path.size() + 1) abort();  // "" becomes "."
  if (moat::path_normalize(norm) != norm) abort();             // idempotent
  auto p = moat::filter_parse(pattern);
  if (!p.ok()) return 0;
  if (p->empty() != pattern.empty()) abort();
  bool name_hit = moat::filter_match_name(*p, path);
  bool path_hit = moat::filter_match_path(*p, path, norm);
  if (name_hit && !path_hit) abort();  // a path match covers the whole-name match
  for (const auto& g : p->globs)
    if (!moat::glob_match(g, g) && g.find_first_of("*?") == g.npos) abort();
  return 0;
}
