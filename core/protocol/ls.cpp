// SPDX-License-Identifier: GPL-2.0-or-later
// Directory listings: the `ls -l` lines of LIST, the names of NLST, the RFC 3659
// facts of MLSD/MLST, and the MDTM time format they share.
#include "core/protocol/ls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <climits>
#include <cstring>
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

void append_mode(std::string& out, mode_t m) {
  char s[10];
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
  out.append(s, sizeof s);
}

// Decimal numbers without printf: a listing formats several per entry.
// width > 0 pads on the left (right-aligned), width < 0 on the right.
void append_number(std::string& out, unsigned long long v, int width = 0, char pad = ' ') {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  size_t len = static_cast<size_t>(end - buf);
  size_t w = static_cast<size_t>(width < 0 ? -width : width);
  if (width > 0 && len < w) out.append(w - len, pad);
  out.append(buf, len);
  if (width < 0 && len < w) out.append(w - len, pad);
}

void append_two_digits(std::string& out, int v) { append_number(out, static_cast<unsigned>(v), 2, '0'); }

// "Nov 21 19:52" for a recent time, "Nov 21  2025" otherwise.
void append_ls_date(std::string& out, time_t t, const ListFormat& fmt) {
  time_t now = fmt.now ? fmt.now : time(nullptr);
  struct tm tm {};
  bool ok = fmt.use_localtime ? localtime_r(&t, &tm) != nullptr : gmtime_r(&t, &tm) != nullptr;
  if (!ok || tm.tm_mon < 0 || tm.tm_mon > 11) {
    out += "Jan 01  1970";
    return;
  }
  out.append(kMonths[tm.tm_mon], 3).append(1, ' ');
  append_two_digits(out, tm.tm_mday);
  if (t > now - kSixMonths && t <= now + kFutureSlack) {
    out += ' ';
    append_two_digits(out, tm.tm_hour);
    out += ':';
    append_two_digits(out, tm.tm_min);
  } else if (tm.tm_year + 1900 < 0) {
    out += "  -";
    append_number(out, static_cast<unsigned>(-(tm.tm_year + 1900)));
  } else {
    out += "  ";
    append_number(out, static_cast<unsigned>(tm.tm_year + 1900));
  }
}

// `name` (text_userdb_names) padded as vsftpd pads it; a longer one is not cut.
void append_id(std::string& out, unsigned id, bool hide, const std::string* name) {
  if (hide) {
    out += "ftp     ";
  } else if (name) {
    out += *name;
    if (name->size() < 8) out.append(8 - name->size(), ' ');
  } else {
    append_number(out, id, -8);
  }
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
void append_perm_fact(std::string& p, const struct stat& st, const MlsxFormat& fmt) {
  Access a = access_for(st, fmt.uid);
  bool can_write = fmt.write_enable && a.w;
  if (S_ISDIR(st.st_mode)) {
    if (can_write) p += "cd";
    if (a.x) p += 'e';
    if (can_write) p += 'f';
    if (a.r) p += 'l';
    if (can_write) p += "mp";
    return;
  }
  if (can_write) p += "adf";
  if (a.r) p += 'r';
  if (can_write) p += 'w';
  return;
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

// Which entries of a directory a listing shows.
struct EntryFilter {
  bool show_dots = false;
  std::string pattern;  // fnmatch glob, empty for all
  const std::function<bool(std::string_view)>* hidden = nullptr;  // hide_file
  bool matches(const char* name) const {
    std::string_view n(name);
    if (n.empty() || is_dot_or_dotdot(n) || has_line_break(n)) return false;
    if (hidden && *hidden && (*hidden)(n)) return false;
    if (!pattern.empty()) return fnmatch(pattern.c_str(), name, show_dots ? 0 : FNM_PERIOD) == 0;
    return show_dots || n.front() != '.';
  }
};

std::string read_link(int dfd, const char* name) {
  char buf[PATH_MAX];
  ssize_t n = readlinkat(dfd, name, buf, sizeof buf);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

// Produces one LIST/NLST/MLSD payload. Each directory being listed is a Frame: its
// names, read and sorted when it is opened, are stat'ed and formatted one at a time;
// with -R its subdirectories follow, depth first, once all its lines are out.
class ListStream::Lister {
 public:
  explicit Lister(ListRequest req) : req_(std::move(req)) {
    if (!req_.fmt.now) req_.fmt.now = time(nullptr);  // once, not per entry
  }

  Status open() {
    std::string path = req_.args.path.empty() ? "." : req_.args.path;
    // A line break would forge lines in the listing: such names are never shown.
    if (has_line_break(path)) return fail(errno_text(ENOENT));
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) return open_existing(path, st);
    int err = errno;
    if (lstat(path.c_str(), &st) == 0) return open_existing(path, st);  // dangling link
    if (req_.kind != ListKind::kMlsd && has_glob(last_component(path))) return open_glob(path);
    return fail(errno_text(err));
  }

  bool fill(std::string& out, size_t want) {
    size_t target = out.size() + want;
    out += pending_;
    pending_.clear();
    while (out.size() < target && !frames_.empty()) step(out);
    return !frames_.empty();
  }

 private:
  struct Frame {
    std::string path;
    std::string prefix;  // NLST shows names under it
    DirPtr dir;          // open while its entries are stat'ed
    std::vector<char> arena;               // the names, each NUL-terminated
    std::vector<std::string_view> names;   // into arena, sorted
    size_t next = 0;
    std::vector<std::string> subdirs;  // -R: real directories among the names, in order
    size_t next_sub = 0;
    int depth = 0;
  };

  ListRequest req_;
  EntryFilter filter_;
  std::string pending_;  // lines known at open(): MLSD's cdir, a single entry
  std::vector<Frame> frames_;

  bool show_dots() const { return req_.args.all || req_.force_dot_files; }

  void set_filter(std::string pattern) {
    filter_ = EntryFilter{show_dots(), std::move(pattern), &req_.hidden};
  }

  bool recursing() const {
    return req_.args.recursive && req_.recurse_enable && req_.kind != ListKind::kMlsd;
  }

  static std::string_view last_component(std::string_view p) {
    size_t slash = p.rfind('/');
    return slash == p.npos ? p : p.substr(slash + 1);
  }

  Status open_existing(const std::string& path, const struct stat& st) {
    set_filter("");
    if (req_.kind == ListKind::kMlsd) {
      if (!S_ISDIR(st.st_mode)) return fail(errno_text(ENOTDIR));
      struct stat cdir {};
      if (stat(path.c_str(), &cdir) != 0) return fail(errno_text(errno));
      append_mlsx_line(pending_, cdir, ".", "cdir", req_.mlsx);
      return open_frame(path, "", 0);
    }
    if (S_ISDIR(st.st_mode) && !req_.args.directory)
      return open_frame(path, path == "." ? "" : join_path(path, ""), 0);
    return open_single(path);
  }

  // LIST/NLST of a file, or of a directory with -d: the entry itself, named as given.
  Status open_single(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return fail(errno_text(errno));
    std::string link = S_ISLNK(st.st_mode) ? read_link(AT_FDCWD, path.c_str()) : "";
    append_line(pending_, st, path, link, "");
    return Ok{};
  }

  Status open_glob(const std::string& path) {
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
    std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    set_filter(path.substr(slash == std::string::npos ? 0 : slash + 1));
    return open_frame(dir, prefix, 0);
  }

  // Reads and sorts the names a directory shows; nothing is stat'ed yet.
  Status open_frame(const std::string& path, std::string prefix, int depth) {
    Frame f{path, std::move(prefix), DirPtr(opendir(path.c_str())), {}, {}, 0, {}, 0, depth};
    if (!f.dir) return fail(errno_text(errno));
    std::vector<std::pair<size_t, size_t>> spans;  // offset, length: the arena still grows
    while (const dirent* d = readdir(f.dir.get())) {
      if (!filter_.matches(d->d_name)) continue;
      size_t len = strlen(d->d_name);
      spans.emplace_back(f.arena.size(), len);
      f.arena.insert(f.arena.end(), d->d_name, d->d_name + len + 1);
    }
    f.names.reserve(spans.size());
    for (auto [offset, len] : spans) f.names.emplace_back(f.arena.data() + offset, len);
    std::sort(f.names.begin(), f.names.end());  // views: no string moves while sorting
    frames_.push_back(std::move(f));
    return Ok{};
  }

  // One line, one subdirectory opened, or one directory finished.
  void step(std::string& out) {
    Frame& f = frames_.back();
    if (f.next < f.names.size()) return emit(f, f.names[f.next++], out);
    if (f.next_sub < f.subdirs.size() && f.depth < kMaxRecursion) {
      std::string sub = join_path(f.path, f.subdirs[f.next_sub++]);
      // An unreadable subdirectory is skipped, as ls carries on.
      if (open_frame(sub, "", f.depth + 1)) out.append("\r\n").append(sub).append(":\r\n");
      return;
    }
    frames_.pop_back();
  }

  // lstat for LIST/NLST; MLSD describes what a link points to and falls back to the
  // link itself when it dangles. An entry that vanished since readdir is left out.
  void emit(Frame& f, std::string_view name, std::string& out) {
    int dfd = dirfd(f.dir.get());
    const char* cname = name.data();  // NUL-terminated in the arena
    struct stat st {};
    if (fstatat(dfd, cname, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (recursing() && S_ISDIR(st.st_mode)) f.subdirs.emplace_back(name);
    std::string link;
    if (S_ISLNK(st.st_mode) && req_.kind == ListKind::kLong) link = read_link(dfd, cname);
    struct stat target {};
    if (S_ISLNK(st.st_mode) && req_.kind == ListKind::kMlsd &&
        fstatat(dfd, cname, &target, 0) == 0)
      st = target;
    append_line(out, st, name, link, f.prefix);
  }

  void append_line(std::string& out, const struct stat& st, std::string_view name,
                   std::string_view link, std::string_view prefix) const {
    switch (req_.kind) {
      case ListKind::kLong:
        return append_ls_long_line(out, st, name, link, req_.fmt);
      case ListKind::kNames:
        out.append(prefix).append(name).append("\r\n");
        return;
      case ListKind::kMlsd:
        return append_mlsx_line(out, st, name, "", req_.mlsx);
    }
  }
};

ListStream::ListStream(std::unique_ptr<Lister> l) : lister_(std::move(l)) {}
ListStream::~ListStream() = default;

Result<std::unique_ptr<ListStream>> ListStream::open(ListRequest req) {
  auto lister = std::make_unique<Lister>(std::move(req));
  Status s = lister->open();
  if (!s) return fail(s.error());
  return std::unique_ptr<ListStream>(new ListStream(std::move(lister)));
}

bool ListStream::fill(std::string& out, size_t want) { return lister_->fill(out, want); }

Result<std::string> list_build(const ListRequest& req) {
  auto stream = ListStream::open(req);
  if (!stream) return fail(stream.error());
  std::string out;
  while ((*stream)->fill(out, 64 * 1024)) {
  }
  return out;
}

namespace {

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

void append_ls_long_line(std::string& out, const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt) {
  append_mode(out, st.st_mode);
  out += ' ';
  append_number(out, st.st_nlink, 4);
  out += ' ';
  append_id(out, st.st_uid, fmt.hide_ids, fmt.names ? fmt.names->user_name(st.st_uid) : nullptr);
  out += ' ';
  append_id(out, st.st_gid, fmt.hide_ids, fmt.names ? fmt.names->group_name(st.st_gid) : nullptr);
  out += ' ';
  append_number(out, static_cast<unsigned long long>(st.st_size), 8);
  out += ' ';
  append_ls_date(out, st.st_mtime, fmt);
  out.append(1, ' ').append(name);
  if (S_ISLNK(st.st_mode) && !link_target.empty()) out.append(" -> ").append(link_target);
  out.append("\r\n");
}

std::string ls_long_line(const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt) {
  std::string line;
  append_ls_long_line(line, st, name, link_target, fmt);
  return line;
}

void append_mlsx_line(std::string& out, const struct stat& st, std::string_view name,
                      std::string_view type, const MlsxFormat& fmt) {
  out.append("type=").append(type.empty() ? mlsx_type(st.st_mode) : type).append(";");
  if (S_ISREG(st.st_mode)) {
    out += "size=";
    append_number(out, static_cast<unsigned long long>(st.st_size));
    out += ';';
  }
  out.append("modify=").append(time_mdtm(st.st_mtime)).append(";");
  if (!S_ISLNK(st.st_mode)) {
    out += "perm=";
    append_perm_fact(out, st, fmt);
    out += ';';
  }
  char mode[16];
  auto end = std::to_chars(mode, mode + sizeof mode, st.st_mode & 07777, 8).ptr;
  size_t digits = static_cast<size_t>(end - mode);
  out.append("unix.mode=0").append(digits < 3 ? 3 - digits : 0, '0').append(mode, digits);
  out += ';';
  if (!fmt.hide_ids) {
    out += "unix.uid=";
    append_number(out, st.st_uid);
    out += ";unix.gid=";
    append_number(out, st.st_gid);
    out += ';';
  }
  out.append(1, ' ').append(name).append("\r\n");
}

std::string mlsx_line(const struct stat& st, std::string_view name, std::string_view type,
                      const MlsxFormat& fmt) {
  std::string line;
  append_mlsx_line(line, st, name, type, fmt);
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

std::string time_mdtm(time_t t) {
  struct tm tm {};
  if (!gmtime_r(&t, &tm)) return t < 0 ? "00000101000000" : "99991231235959";
  int year = tm.tm_year + 1900;
  if (year < 0) return "00000101000000";
  if (year > 9999) return "99991231235959";
  std::string out;
  out.reserve(14);
  append_number(out, static_cast<unsigned>(year), 4, '0');  // no printf: MLSD does this per entry
  for (int v : {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec}) append_two_digits(out, v);
  return out;
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
