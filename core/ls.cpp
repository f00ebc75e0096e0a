// SPDX-License-Identifier: GPL-2.0-or-later
// Directory listings: the `ls -l` lines of LIST, the names of NLST, the RFC 3659
// facts of MLSD/MLST, and the MDTM time format they share.
#include "core/ls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <memory>
#include <vector>

namespace moat {

namespace {

// English month names whatever the locale: clients parse these.
constexpr const char* kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr time_t kSixMonths = 15778476;  // half of an average Gregorian year, as ls
constexpr time_t kFutureSlack = 3600;
constexpr int kMaxRecursion = 16;

char file_type_char(mode_t m) {
  if (S_ISDIR(m)) return 'd';
  if (S_ISREG(m)) return '-';
  if (S_ISLNK(m)) return 'l';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  return '?';
}

// The x position: x/-, or the special bit shown as lower case (with x) or upper.
char exec_char(mode_t m, mode_t x_bit, mode_t special_bit, char special) {
  bool x = m & x_bit;
  if (!(m & special_bit)) return x ? 'x' : '-';
  return x ? special : static_cast<char>(special - 'a' + 'A');
}

std::string mode_string(mode_t m) {
  std::string s(10, '-');
  s[0] = file_type_char(m);
  s[1] = (m & S_IRUSR) ? 'r' : '-';
  s[2] = (m & S_IWUSR) ? 'w' : '-';
  s[3] = exec_char(m, S_IXUSR, S_ISUID, 's');
  s[4] = (m & S_IRGRP) ? 'r' : '-';
  s[5] = (m & S_IWGRP) ? 'w' : '-';
  s[6] = exec_char(m, S_IXGRP, S_ISGID, 's');
  s[7] = (m & S_IROTH) ? 'r' : '-';
  s[8] = (m & S_IWOTH) ? 'w' : '-';
  s[9] = exec_char(m, S_IXOTH, S_ISVTX, 't');
  return s;
}

std::string ls_date(time_t t, const ListFormat& fmt) {
  time_t now = fmt.now ? fmt.now : time(nullptr);
  struct tm tm {};
  bool ok = fmt.use_localtime ? localtime_r(&t, &tm) != nullptr : gmtime_r(&t, &tm) != nullptr;
  if (!ok || tm.tm_mon < 0 || tm.tm_mon > 11) return "Jan 01  1970";
  bool recent = t > now - kSixMonths && t <= now + kFutureSlack;
  char buf[64];
  if (recent)
    snprintf(buf, sizeof buf, "%s %02d %02d:%02d", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour,
             tm.tm_min);
  else
    snprintf(buf, sizeof buf, "%s %02d  %d", kMonths[tm.tm_mon], tm.tm_mday,
             tm.tm_year + 1900);
  return buf;
}

// Permission bits that apply to `uid`: owner's if it owns the file, else other's.
struct Access {
  bool r, w, x;
};
Access access_for(const struct stat& st, uid_t uid) {
  if (st.st_uid == uid)
    return {(st.st_mode & S_IRUSR) != 0, (st.st_mode & S_IWUSR) != 0,
            (st.st_mode & S_IXUSR) != 0};
  return {(st.st_mode & S_IROTH) != 0, (st.st_mode & S_IWOTH) != 0,
          (st.st_mode & S_IXOTH) != 0};
}

// RFC 3659 section 7.5.5 perm letters, alphabetical.
std::string perm_fact(const struct stat& st, const MlsxFormat& fmt) {
  Access a = access_for(st, fmt.uid);
  bool can_write = fmt.write_enable && a.w;
  std::string p;
  if (S_ISDIR(st.st_mode)) {
    if (can_write) p += "cd";
    if (a.x) p += 'e';
    if (can_write) p += 'f';
    if (a.r) p += 'l';
    if (can_write) p += "mp";
    return p;
  }
  if (can_write) p += "adf";
  if (a.r) p += 'r';
  if (can_write) p += 'w';
  return p;
}

std::string_view mlsx_type(mode_t m) {
  if (S_ISDIR(m)) return "dir";
  if (S_ISREG(m)) return "file";
  if (S_ISLNK(m)) return "OS.unix=symlink";
  if (S_ISCHR(m)) return "OS.unix=chr";
  if (S_ISBLK(m)) return "OS.unix=blk";
  if (S_ISFIFO(m)) return "OS.unix=fifo";
  return "OS.unix=socket";
}

bool is_dot_or_dotdot(std::string_view n) { return n == "." || n == ".."; }
bool has_line_break(std::string_view n) { return n.find_first_of("\r\n") != n.npos; }
bool has_glob(std::string_view s) { return s.find_first_of("*?[") != s.npos; }

// Appends "/" + name to a directory path without doubling the slash.
std::string join_path(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (p.empty() || p.back() != '/') p += '/';
  p += name;
  return p;
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

struct Entry {
  std::string name;
  struct stat st {};
  std::string link;    // readlink text (LIST only)
  bool is_dir = false;  // a real directory, not a symlink to one: recursion target
};

// Which entries of a directory a listing shows.
struct EntryFilter {
  bool show_dots = false;
  std::string pattern;  // fnmatch glob, empty for all
  const std::function<bool(std::string_view)>* hidden = nullptr;  // hide_file
  bool matches(const std::string& name) const {
    if (name.empty() || is_dot_or_dotdot(name) || has_line_break(name)) return false;
    if (hidden && *hidden && (*hidden)(name)) return false;
    if (!pattern.empty())
      return fnmatch(pattern.c_str(), name.c_str(), show_dots ? 0 : FNM_PERIOD) == 0;
    return show_dots || name.front() != '.';
  }
};

// Builds the payload of one LIST/NLST/MLSD request, appending to out_.
class Lister {
 public:
  explicit Lister(const ListRequest& req) : req_(req) {}

  Result<std::string> run() {
    std::string path = req_.args.path.empty() ? "." : req_.args.path;
    // A line break would forge lines in the listing: such names are never shown.
    if (has_line_break(path)) return fail(errno_text(ENOENT));
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) return list_existing(path, st);
    int err = errno;
    if (lstat(path.c_str(), &st) == 0) return list_existing(path, st);  // dangling link
    if (req_.kind != ListKind::kMlsd && has_glob(last_component(path))) return list_glob(path);
    return fail(errno_text(err));
  }

 private:
  const ListRequest& req_;
  std::string out_;

  bool show_dots() const { return req_.args.all || req_.force_dot_files; }

  EntryFilter entry_filter(std::string pattern) const {
    return EntryFilter{show_dots(), std::move(pattern), &req_.hidden};
  }

  static std::string_view last_component(std::string_view p) {
    size_t slash = p.rfind('/');
    return slash == p.npos ? p : p.substr(slash + 1);
  }

  Result<std::string> list_existing(const std::string& path, const struct stat& st) {
    if (req_.kind == ListKind::kMlsd) {
      if (!S_ISDIR(st.st_mode)) return fail(errno_text(ENOTDIR));
      return list_top_dir(path, entry_filter(""), "");
    }
    if (S_ISDIR(st.st_mode) && !req_.args.directory) {
      std::string prefix = path == "." ? "" : join_path(path, "");
      return list_top_dir(path, entry_filter(""), prefix);
    }
    return list_single(path);
  }

  // LIST/NLST of a file, or of a directory with -d: the entry itself, named as given.
  Result<std::string> list_single(const std::string& path) {
    Entry e;
    e.name = path;
    if (lstat(path.c_str(), &e.st) != 0) return fail(errno_text(errno));
    if (S_ISLNK(e.st.st_mode)) e.link = read_link(AT_FDCWD, path);
    append_entry(e, "");
    return std::move(out_);
  }

  Result<std::string> list_glob(const std::string& path) {
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
    std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    EntryFilter filter = entry_filter(path.substr(slash == std::string::npos ? 0 : slash + 1));
    auto entries = read_dir(dir, filter);
    if (!entries) return fail(entries.error());
    for (const Entry& e : *entries) append_entry(e, prefix);
    return std::move(out_);
  }

  Result<std::string> list_top_dir(const std::string& path, const EntryFilter& filter,
                                   const std::string& prefix) {
    if (req_.kind == ListKind::kMlsd) {
      Status s = append_cdir(path);
      if (!s) return fail(s.error());
    }
    auto entries = read_dir(path, filter);
    if (!entries) return fail(entries.error());
    for (const Entry& e : *entries) append_entry(e, prefix);
    if (recursing()) recurse(path, *entries, filter, 1);
    return std::move(out_);
  }

  bool recursing() const {
    return req_.args.recursive && req_.recurse_enable && req_.kind != ListKind::kMlsd;
  }

  // ls -R: each subdirectory's listing under a "\r\n./sub:\r\n" header, depth first.
  void recurse(const std::string& path, const std::vector<Entry>& entries,
               const EntryFilter& filter, int depth) {
    if (depth > kMaxRecursion) return;
    for (const Entry& e : entries) {
      if (!e.is_dir) continue;
      std::string sub = join_path(path, e.name);
      auto children = read_dir(sub, filter);
      if (!children) continue;  // unreadable subdirectory: skip it, as ls carries on
      out_ += "\r\n" + sub + ":\r\n";
      for (const Entry& c : *children) append_entry(c, "");
      recurse(sub, *children, filter, depth + 1);
    }
  }

  Status append_cdir(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return fail(errno_text(errno));
    out_ += mlsx_line(st, ".", "cdir", req_.mlsx);
    return Ok{};
  }

  void append_entry(const Entry& e, std::string_view prefix) {
    switch (req_.kind) {
      case ListKind::kLong:
        out_ += ls_long_line(e.st, e.name, e.link, req_.fmt);
        break;
      case ListKind::kNames:
        out_.append(prefix).append(e.name).append("\r\n");
        break;
      case ListKind::kMlsd:
        out_ += mlsx_line(e.st, e.name, "", req_.mlsx);
        break;
    }
  }

  static std::string read_link(int dfd, const std::string& name) {
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dfd, name.c_str(), buf, sizeof buf);
    if (n <= 0) return "";
    return std::string(buf, static_cast<size_t>(n));
  }

  // Stats one entry: lstat for LIST/NLST; MLSD describes what a link points to
  // and falls back to the link itself when it dangles.
  bool stat_entry(int dfd, Entry& e) const {
    if (fstatat(dfd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    e.is_dir = S_ISDIR(e.st.st_mode);
    if (!S_ISLNK(e.st.st_mode)) return true;
    if (req_.kind == ListKind::kLong) e.link = read_link(dfd, e.name);
    struct stat target {};
    if (req_.kind == ListKind::kMlsd && fstatat(dfd, e.name.c_str(), &target, 0) == 0)
      e.st = target;
    return true;
  }

  Result<std::vector<Entry>> read_dir(const std::string& path, const EntryFilter& filter) {
    DirPtr dir(opendir(path.c_str()));
    if (!dir) return fail(errno_text(errno));
    int dfd = dirfd(dir.get());
    std::vector<Entry> entries;
    while (const dirent* d = readdir(dir.get())) {
      Entry e;
      e.name = d->d_name;
      if (!filter.matches(e.name)) continue;
      if (!stat_entry(dfd, e)) continue;  // vanished since readdir
      entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    out_.reserve(out_.size() + entries.size() * 80);
    return entries;
  }
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int digits_value(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

}  // namespace

std::string ls_long_line(const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt) {
  std::string owner = fmt.hide_ids ? "ftp" : std::to_string(st.st_uid);
  std::string group = fmt.hide_ids ? "ftp" : std::to_string(st.st_gid);
  char buf[192];
  snprintf(buf, sizeof buf, "%s %4lu %-8s %-8s %8llu %s ", mode_string(st.st_mode).c_str(),
           static_cast<unsigned long>(st.st_nlink), owner.c_str(), group.c_str(),
           static_cast<unsigned long long>(st.st_size), ls_date(st.st_mtime, fmt).c_str());
  std::string line(buf);
  line.append(name);
  if (S_ISLNK(st.st_mode) && !link_target.empty()) line.append(" -> ").append(link_target);
  line.append("\r\n");
  return line;
}

std::string mlsx_line(const struct stat& st, std::string_view name, std::string_view type,
                      const MlsxFormat& fmt) {
  std::string line = "type=";
  line.append(type.empty() ? mlsx_type(st.st_mode) : type).append(";");
  if (S_ISREG(st.st_mode)) line += "size=" + std::to_string(st.st_size) + ";";
  line += "modify=" + time_mdtm(st.st_mtime) + ";";
  if (!S_ISLNK(st.st_mode)) line += "perm=" + perm_fact(st, fmt) + ";";
  char mode[16];
  snprintf(mode, sizeof mode, "0%03o", static_cast<unsigned>(st.st_mode & 07777));
  line += "unix.mode=" + std::string(mode) + ";";
  if (!fmt.hide_ids)
    line += "unix.uid=" + std::to_string(st.st_uid) + ";unix.gid=" + std::to_string(st.st_gid) +
            ";";
  line.append(" ").append(name).append("\r\n");
  return line;
}

ListArgs parse_list_args(std::string_view arg) {
  ListArgs a;
  while (!arg.empty() && arg.front() == '-') {
    size_t sp = arg.find(' ');
    std::string_view word = arg.substr(0, sp);
    arg = sp == arg.npos ? std::string_view() : arg.substr(sp + 1);
    if (word == "--") break;
    for (char c : word.substr(1)) {
      if (c == 'a' || c == 'A') a.all = true;
      if (c == 'R') a.recursive = true;
      if (c == 'd') a.directory = true;
    }
  }
  a.path.assign(arg);
  return a;
}

Result<std::string> list_build(const ListRequest& req) { return Lister(req).run(); }

std::string time_mdtm(time_t t) {
  struct tm tm {};
  if (!gmtime_r(&t, &tm)) return t < 0 ? "00000101000000" : "99991231235959";
  int year = tm.tm_year + 1900;
  if (year < 0) return "00000101000000";
  if (year > 9999) return "99991231235959";
  char buf[32];
  snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", year, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Result<time_t> parse_mdtm(std::string_view s) {
  std::string_view digits = s.substr(0, 14);
  if (s.size() < 14 || !all_digits(digits)) return fail("time must be YYYYMMDDHHMMSS");
  std::string_view frac = s.substr(14);
  if (!frac.empty() && (frac.front() != '.' || frac.size() > 10 || !all_digits(frac.substr(1))))
    return fail("bad fraction of a second");
  int y = digits_value(digits.substr(0, 4)), mo = digits_value(digits.substr(4, 2));
  int d = digits_value(digits.substr(6, 2)), h = digits_value(digits.substr(8, 2));
  int mi = digits_value(digits.substr(10, 2)), sec = digits_value(digits.substr(12, 2));
  if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
      sec > 60)
    return fail("time out of range");
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return timegm(&tm);
}

}  // namespace moat
