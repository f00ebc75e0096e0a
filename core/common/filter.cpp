// SPDX-License-Identifier: GPL-2.0-or-later
// deny_file/hide_file patterns: parsing vsftpd's brace syntax into plain globs, and
// matching them against entry names and client paths.
#include "core/common/filter.hpp"

namespace moat {
namespace {

constexpr size_t kMaxGlobs = 256;
constexpr size_t kMaxExpandedBytes = 64 * 1024;

// One position of the pattern: a literal run has one alternative, a {..} group many.
using Alternatives = std::vector<std::string>;

Result<Alternatives> split_group(std::string_view body) {
  Alternatives alts;
  size_t start = 0;
  for (;;) {
    size_t comma = body.find(',', start);
    alts.emplace_back(body.substr(start, comma == body.npos ? body.npos : comma - start));
    if (comma == body.npos) return alts;
    start = comma + 1;
  }
}

Result<std::vector<Alternatives>> split_pattern(std::string_view text) {
  std::vector<Alternatives> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find_first_of("{}", pos);
    if (open != text.npos && text[open] == '}') return fail("'}' without '{'");
    if (open != pos) parts.push_back({std::string(text.substr(pos, open - pos))});
    if (open == text.npos) break;
    size_t close = text.find_first_of("{}", open + 1);
    if (close == text.npos || text[close] != '}')
      return fail(close == text.npos ? "'{' without '}'" : "'{' inside '{..}'");
    auto alts = split_group(text.substr(open + 1, close - open - 1));
    if (!alts) return fail(alts.error());
    parts.push_back(std::move(*alts));
    pos = close + 1;
  }
  return parts;
}

// The cross product of the parts, bounded so a config line cannot explode.
Result<std::vector<std::string>> expand(const std::vector<Alternatives>& parts) {
  std::vector<std::string> globs{""};
  for (const Alternatives& alts : parts) {
    if (globs.size() * alts.size() > kMaxGlobs)
      return fail("more than " + std::to_string(kMaxGlobs) + " alternatives");
    std::vector<std::string> next;
    size_t bytes = 0;
    for (const std::string& head : globs) {
      for (const std::string& alt : alts) {
        next.push_back(head + alt);
        bytes += next.back().size();
      }
    }
    if (bytes > kMaxExpandedBytes) return fail("pattern too long once expanded");
    globs = std::move(next);
  }
  return globs;
}

bool any_glob_matches(const FilterPattern& p, std::string_view text) {
  for (const std::string& g : p.globs)
    if (glob_match(g, text)) return true;
  return false;
}

bool any_component_matches(const FilterPattern& p, std::string_view path) {
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == path.npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == "." || part == "..") continue;
    if (any_glob_matches(p, part)) return true;
  }
  return false;
}

}  // namespace

Result<FilterPattern> filter_parse(std::string_view text) {
  FilterPattern p;
  if (text.empty()) return p;
  auto parts = split_pattern(text);
  if (!parts) return fail(parts.error());
  auto globs = expand(*parts);
  if (!globs) return fail(globs.error());
  p.text = std::string(text);
  p.globs = std::move(*globs);
  return p;
}

bool glob_match(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0;
  size_t star = glob.npos, mark = 0;  // last '*' seen, and where its match ends now
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (star != glob.npos) {
      g = star + 1;  // let the last '*' swallow one more byte and retry
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

std::string path_normalize(std::string_view path) {
  const bool absolute = !path.empty() && path.front() == '/';
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == path.npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      parts.push_back(part);
    } else if (!parts.empty() && parts.back() != "..") {
      parts.pop_back();
    } else if (!absolute) {
      parts.push_back(part);
    }
  }
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) out.append(i ? "/" : "").append(parts[i]);
  return out.empty() ? "." : out;
}

bool filter_match_name(const FilterPattern& p, std::string_view name) {
  if (p.empty()) return false;
  return name.find(p.text) != name.npos || any_glob_matches(p, name);
}

bool filter_match_path(const FilterPattern& p, std::string_view arg, std::string_view absolute) {
  if (p.empty()) return false;
  if (arg.find(p.text) != arg.npos) return true;
  if (any_glob_matches(p, arg) || any_glob_matches(p, path_normalize(arg))) return true;
  if (!absolute.empty() && any_glob_matches(p, path_normalize(absolute))) return true;
  return any_component_matches(p, arg);
}

}  // namespace moat
