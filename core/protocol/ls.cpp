// SPDX-License-Identifier: GPL-2.0-or-later
// Directory listings: the `ls -l` lines of LIST, the names of NLST, the RFC 3659
// facts of MLSD/MLST, and the MDTM time format they share.
#include "core/protocol/ls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace moat {

namespace {

// English month names whatever the locale: clients parse these.
constexpr std::string_view kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr time_t kSixMonths = 15778476;  // half of an average Gregorian year, as ls
constexpr time_t kFutureSlack = 3600;
constexpr int kMaxRecursion = 16;

// Listing text is built in a small buffer and appended to the output a few hundred
// bytes at a time: appending each field to the std::string itself costs a capacity
// check, a terminator and often a library call, some 25 times per line, and a large
// listing has tens of thousands of lines. Fields are written whole (the ten mode
// letters at once, not letter by letter) for the same reason. All the buffer
// arithmetic of listings is here.
class LineWriter {
 public:
  explicit LineWriter(std::string& out) : out_(out) {}
  ~LineWriter() { flush(); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // What `out` holds once this is flushed.
  size_t size() const { return out_.size() + len_; }

  void put(char c) {
    make_room(1);
    buf_[len_++] = c;
  }

  void put(std::string_view s) {
    if (s.size() > kSize) {
      flush();
      out_.append(s);
      return;
    }
    make_room(s.size());
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
  }

  void repeat(char c, size_t n) {
    if (n <= kShort) {  // a fixed-size fill is a few instructions, a call to memset more
      make_room(kShort);
      std::memset(buf_ + len_, c, kShort);
      len_ += n;
      return;
    }
    while (n > 0) {
      size_t k = std::min(n, kSize);
      make_room(k);
      std::memset(buf_ + len_, c, k);
      len_ += k;
      n -= k;
    }
  }

  // v in decimal (or octal), padded to `width` columns: on the left (right-aligned) for
  // a positive width, on the right for a negative one; a longer number is not cut.
  void number(unsigned long long v, int width = 0, char pad = ' ', int base = 10) {
    char digits[24] = {};  // 22 octal digits at most
    auto end = std::to_chars(std::begin(digits), std::end(digits), v, base == 8 ? 8 : 10).ptr;
    size_t len = static_cast<size_t>(end - std::begin(digits));
    size_t columns = static_cast<size_t>(width < 0 ? -width : width);
    size_t fill = columns > len ? columns - len : 0;
    if (width > 0) repeat(pad, fill);
    if (len <= kShort) {  // copied whole, then the end moves by the digits alone
      make_room(kShort);
      std::memcpy(buf_ + len_, digits, kShort);
      len_ += len;
    } else {
      put(std::string_view(digits, len));
    }
    if (width < 0) repeat(pad, fill);
  }

  // 00 to 99: the fields of dates and times.
  void two_digits(int v) {
    static constexpr std::string_view kPairs =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    put(kPairs.substr(static_cast<size_t>(v % 100) * 2, 2));
  }

 private:
  static constexpr size_t kSize = 512;
  static constexpr size_t kShort = 16;

  void make_room(size_t n) {
    if (kSize - len_ < n) flush();
  }
  void flush() {
    out_.append(buf_, len_);
    len_ = 0;
  }

  std::string& out_;
  char buf_[kSize];
  size_t len_ = 0;
};

// A time broken down as gmtime_r and localtime_r do (month 0 to 11), the year whole.
struct CivilTime {
  long long year;
  int month, day, hour, minute, second;
};

// UTC by arithmetic on the proleptic Gregorian calendar: gmtime_r takes the time zone
// lock on every call and cost more than the rest of a listing line. Days count from
// 0000-03-01 in eras of 400 years (146,097 days), so leap days end each year. Empty
// where gmtime_r fails too: a year that does not fit its int.
std::optional<CivilTime> civil_utc(time_t t) {
  constexpr long long kDaysPerEra = 146097;
  constexpr long long kDaysFromMarch0000 = 719468;  // 0000-03-01 to 1970-01-01
  long long days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  long long z = days + kDaysFromMarch0000;
  long long era = (z >= 0 ? z : z - (kDaysPerEra - 1)) / kDaysPerEra;
  long long day_of_era = z - era * kDaysPerEra;
  long long year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  long long day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  long long march_month = (5 * day_of_year + 2) / 153;  // 0 = March
  CivilTime c{};
  c.day = static_cast<int>(day_of_year - (153 * march_month + 2) / 5 + 1);
  c.month = static_cast<int>(march_month < 10 ? march_month + 2 : march_month - 10);
  c.year = era * 400 + year_of_era + (c.month < 2 ? 1 : 0);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  if (c.year - 1900 < INT_MIN || c.year - 1900 > INT_MAX) return std::nullopt;
  return c;
}

// Local time goes through the C library, which knows the zone's rules.
std::optional<CivilTime> civil_time(time_t t, bool local) {
  if (!local) return civil_utc(t);
  struct tm tm {};
  if (!localtime_r(&t, &tm) || tm.tm_mon < 0 || tm.tm_mon > 11) return std::nullopt;
  return CivilTime{tm.tm_year + 1900LL, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
}

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

void write_mode(LineWriter& w, mode_t m) {
  const char letters[10] = {
      file_type_char(m),
      (m & S_IRUSR) ? 'r' : '-',
      (m & S_IWUSR) ? 'w' : '-',
      exec_char(m, S_IXUSR, S_ISUID, 's'),
      (m & S_IRGRP) ? 'r' : '-',
      (m & S_IWGRP) ? 'w' : '-',
      exec_char(m, S_IXGRP, S_ISGID, 's'),
      (m & S_IROTH) ? 'r' : '-',
      (m & S_IWOTH) ? 'w' : '-',
      exec_char(m, S_IXOTH, S_ISVTX, 't'),
  };
  w.put(std::string_view(letters, sizeof letters));
}

// "Nov 21 19:52" for a recent time, "Nov 21  2025" otherwise.
void write_ls_date(LineWriter& w, time_t t, const ListFormat& fmt) {
  time_t now = fmt.now ? fmt.now : time(nullptr);
  std::optional<CivilTime> c = civil_time(t, fmt.use_localtime);
  if (!c) return w.put("Jan 01  1970");
  w.put(kMonths[c->month]);
  w.put(' ');
  w.two_digits(c->day);
  if (t > now - kSixMonths && t <= now + kFutureSlack) {
    w.put(' ');
    w.two_digits(c->hour);
    w.put(':');
    w.two_digits(c->minute);
    return;
  }
  w.put(c->year < 0 ? "  -" : "  ");
  w.number(static_cast<unsigned long long>(c->year < 0 ? -c->year : c->year));
}

// `name` (text_userdb_names) padded as vsftpd pads it; a longer one is not cut.
void write_id(LineWriter& w, unsigned id, bool hide, const std::string* name) {
  if (hide) return w.put("ftp     ");
  if (!name) return w.number(id, -8);
  w.put(*name);
  if (name->size() < 8) w.repeat(' ', 8 - name->size());
}

// YYYYMMDDHHMMSS, years outside 0 to 9999 clamped to the first or last second.
void write_mdtm(LineWriter& w, time_t t) {
  constexpr std::string_view kFirst = "00000101000000", kLast = "99991231235959";
  std::optional<CivilTime> c = civil_utc(t);
  if (!c) return w.put(t < 0 ? kFirst : kLast);
  if (c->year < 0) return w.put(kFirst);
  if (c->year > 9999) return w.put(kLast);
  w.number(static_cast<unsigned long long>(c->year), 4, '0');
  for (int v : {c->month + 1, c->day, c->hour, c->minute, c->second}) w.two_digits(v);
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
void write_perm_fact(LineWriter& w, const struct stat& st, const MlsxFormat& fmt) {
  Access a = access_for(st, fmt.uid);
  bool can_write = fmt.write_enable && a.w;
  if (S_ISDIR(st.st_mode)) {
    if (can_write) w.put("cd");
    if (a.x) w.put('e');
    if (can_write) w.put('f');
    if (a.r) w.put('l');
    if (can_write) w.put("mp");
    return;
  }
  if (can_write) w.put("adf");
  if (a.r) w.put('r');
  if (can_write) w.put('w');
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

void write_ls_long_line(LineWriter& w, const struct stat& st, std::string_view name,
                        std::string_view link_target, const ListFormat& fmt) {
  write_mode(w, st.st_mode);
  w.put(' ');
  w.number(st.st_nlink, 4);
  w.put(' ');
  write_id(w, st.st_uid, fmt.hide_ids, fmt.names ? fmt.names->user_name(st.st_uid) : nullptr);
  w.put(' ');
  write_id(w, st.st_gid, fmt.hide_ids, fmt.names ? fmt.names->group_name(st.st_gid) : nullptr);
  w.put(' ');
  w.number(static_cast<unsigned long long>(st.st_size), 8);
  w.put(' ');
  write_ls_date(w, st.st_mtime, fmt);
  w.put(' ');
  w.put(name);
  if (S_ISLNK(st.st_mode) && !link_target.empty()) {
    w.put(" -> ");
    w.put(link_target);
  }
  w.put("\r\n");
}

void write_mlsx_line(LineWriter& w, const struct stat& st, std::string_view name,
                     std::string_view type, const MlsxFormat& fmt) {
  w.put("type=");
  w.put(type.empty() ? mlsx_type(st.st_mode) : type);
  w.put(';');
  if (S_ISREG(st.st_mode)) {
    w.put("size=");
    w.number(static_cast<unsigned long long>(st.st_size));
    w.put(';');
  }
  w.put("modify=");
  write_mdtm(w, st.st_mtime);
  w.put(';');
  if (!S_ISLNK(st.st_mode)) {
    w.put("perm=");
    write_perm_fact(w, st, fmt);
    w.put(';');
  }
  w.put("unix.mode=0");
  w.number(st.st_mode & 07777, 3, '0', 8);
  w.put(';');
  if (!fmt.hide_ids) {
    w.put("unix.uid=");
    w.number(st.st_uid);
    w.put(";unix.gid=");
    w.number(st.st_gid);
    w.put(';');
  }
  w.put(' ');
  w.put(name);
  w.put("\r\n");
}

bool is_dot_or_dotdot(std::string_view n) { return n == "." || n == ".."; }
bool has_line_break(std::string_view n) { return n.find('\n') != n.npos || n.find('\r') != n.npos; }
bool has_glob(std::string_view s) { return s.find_first_of("*?[") != s.npos; }

// Appends "/" + name to a directory path without doubling the slash.
std::string join_path(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (p.empty() || p.back() != '/') p += '/';
  p += name;
  return p;
}

// A directory's names, read with getdents64 a small batch at a time. The lister
// stats each batch before it reads the next, and a batch of a few hundred names keeps
// their dentries and inodes in the CPU caches until then: with glibc's readdir, which
// reads 32 KiB (a thousand names or more) at once, a 10,000-entry listing took 3%
// more CPU.
class DirReader {
 public:
  static std::unique_ptr<DirReader> open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return nullptr;
    return std::unique_ptr<DirReader>(new DirReader(std::move(fd)));
  }

  int fd() const { return fd_.get(); }

  // The next name, NUL-terminated; none at the end, or after an error (as readdir).
  std::optional<std::string_view> next() {
    if (pos_ == len_) {
      ssize_t n = getdents64(fd_.get(), buf_, sizeof buf_);
      if (n <= 0) return std::nullopt;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const auto* d = reinterpret_cast<const struct dirent64*>(buf_ + pos_);
    if (d->d_reclen == 0 || d->d_reclen > len_ - pos_) return std::nullopt;  // never from Linux
    pos_ += d->d_reclen;
    return std::string_view(d->d_name);
  }

 private:
  explicit DirReader(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;
  alignas(struct dirent64) char buf_[8192];
  size_t pos_ = 0, len_ = 0;
};

// Which entries of a directory a listing shows.
struct EntryFilter {
  bool show_dots = false;
  std::string pattern;  // fnmatch glob, empty for all
  const std::function<bool(std::string_view)>* hidden = nullptr;  // hide_file
  // n.data() is NUL-terminated (a dirent's name).
  bool matches(std::string_view n) const {
    if (n.empty() || is_dot_or_dotdot(n) || has_line_break(n)) return false;
    if (hidden && *hidden && (*hidden)(n)) return false;
    if (!pattern.empty()) return fnmatch(pattern.c_str(), n.data(), show_dots ? 0 : FNM_PERIOD) == 0;
    return show_dots || n.front() != '.';
  }
};

// A name's first 8 bytes as a big-endian number: most comparisons while sorting a
// large directory end there, without a call to memcmp. A shorter name is padded with
// NULs, which no name contains, so the order stays strcmp's.
uint64_t sort_key(std::string_view name) {
  unsigned char first[8] = {};
  std::memcpy(first, name.data(), std::min(name.size(), sizeof first));
  uint64_t key = 0;
  for (unsigned char c : first) key = key << 8 | c;
  return key;
}

// What a line shows of an entry, kept from its stat until the line is written: a
// fifth of a struct stat.
struct EntryStat {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  nlink_t nlink;
  off_t size;
  time_t mtime;

  explicit EntryStat(const struct stat& st)
      : mode(st.st_mode), uid(st.st_uid), gid(st.st_gid), nlink(st.st_nlink),
        size(st.st_size), mtime(st.st_mtime) {}

  struct stat to_stat() const {
    struct stat st {};
    st.st_mode = mode;
    st.st_uid = uid;
    st.st_gid = gid;
    st.st_nlink = nlink;
    st.st_size = size;
    st.st_mtime = mtime;
    return st;
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
// entries, read, stat'ed and sorted when the listing reaches it, are formatted a
// line at a time; with -R its subdirectories follow, depth first, once all its lines
// are out.
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
    LineWriter w(out);
    size_t target = w.size() + want;
    w.put(pending_);
    pending_.clear();
    while (w.size() < target && !frames_.empty()) step(w);
    return !frames_.empty();
  }

 private:
  // An entry as read: its name (NUL-terminated in the frame's arena) and its stat.
  struct Entry {
    uint64_t key;  // sort_key(name)
    size_t name_at, name_length;
    EntryStat st;
  };

  struct Frame {
    std::string path;
    std::string prefix;  // NLST shows names under it
    std::unique_ptr<DirReader> dir;  // open until the frame ends: LIST reads symlinks through it
    bool read = false;   // its entries read, stat'ed and sorted
    std::vector<char> arena;       // the names
    std::vector<Entry> entries;    // sorted by name
    size_t next = 0;
    std::vector<std::string> subdirs;  // -R: real directories among the names, in order
    size_t next_sub = 0;
    int depth = 0;

    std::string_view name(const Entry& e) const { return {arena.data() + e.name_at, e.name_length}; }
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
      LineWriter w(pending_);
      write_mlsx_line(w, cdir, ".", "cdir", req_.mlsx);
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
    LineWriter w(pending_);
    write_line(w, st, path, link, "");
    return Ok{};
  }

  Status open_glob(const std::string& path) {
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
    std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    set_filter(path.substr(slash == std::string::npos ? 0 : slash + 1));
    return open_frame(dir, prefix, 0);
  }

  // Opens a directory to list; its entries are read when the listing reaches it.
  Status open_frame(const std::string& path, std::string prefix, int depth) {
    std::unique_ptr<DirReader> dir = DirReader::open(path);
    if (!dir) return fail(errno_text(errno));
    Frame f;
    f.path = path;
    f.prefix = std::move(prefix);
    f.dir = std::move(dir);
    f.depth = depth;
    frames_.push_back(std::move(f));
    return Ok{};
  }

  // Reads the entries a directory shows and sorts them by name. Each is stat'ed as
  // soon as getdents has returned its name, while the kernel's dentries for that batch
  // are still in the CPU caches: stat'ing all the names afterwards, in name order,
  // took a tenth more CPU on a 10,000-entry directory. An entry that vanished since
  // getdents is left out.
  void read_entries(Frame& f) {
    const int dfd = f.dir->fd();
    while (std::optional<std::string_view> next = f.dir->next()) {
      std::string_view name = *next;
      struct stat st;
      if (!filter_.matches(name) || !stat_entry(dfd, name.data(), st)) continue;
      f.entries.push_back(Entry{sort_key(name), f.arena.size(), name.size(), EntryStat(st)});
      f.arena.insert(f.arena.end(), name.data(), name.data() + name.size() + 1);
    }
    std::sort(f.entries.begin(), f.entries.end(), [&f](const Entry& a, const Entry& b) {
      return a.key != b.key ? a.key < b.key : f.name(a) < f.name(b);
    });
    f.read = true;
  }

  // lstat for LIST/NLST; MLSD describes what a link points to and falls back to the
  // link itself when it dangles.
  bool stat_entry(int dfd, const char* name, struct stat& st) const {
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    struct stat target;
    if (S_ISLNK(st.st_mode) && req_.kind == ListKind::kMlsd && fstatat(dfd, name, &target, 0) == 0)
      st = target;
    return true;
  }

  // A directory read, one line, one subdirectory opened, or one directory finished.
  void step(LineWriter& out) {
    Frame& f = frames_.back();
    if (!f.read) return read_entries(f);
    if (f.next < f.entries.size()) return emit(f, f.entries[f.next++], out);
    if (f.next_sub < f.subdirs.size() && f.depth < kMaxRecursion) {
      std::string sub = join_path(f.path, f.subdirs[f.next_sub++]);
      // An unreadable subdirectory is skipped, as ls carries on.
      if (!open_frame(sub, "", f.depth + 1)) return;
      out.put("\r\n");
      out.put(sub);
      out.put(":\r\n");
      return;
    }
    frames_.pop_back();
  }

  void emit(Frame& f, const Entry& e, LineWriter& out) {
    std::string_view name = f.name(e);
    struct stat st = e.st.to_stat();
    if (recursing() && S_ISDIR(st.st_mode)) f.subdirs.emplace_back(name);
    std::string link;
    if (S_ISLNK(st.st_mode) && req_.kind == ListKind::kLong)
      link = read_link(f.dir->fd(), name.data());  // NUL-terminated in the arena
    write_line(out, st, name, link, f.prefix);
  }

  void write_line(LineWriter& w, const struct stat& st, std::string_view name,
                  std::string_view link, std::string_view prefix) const {
    switch (req_.kind) {
      case ListKind::kLong:
        return write_ls_long_line(w, st, name, link, req_.fmt);
      case ListKind::kNames:
        w.put(prefix);
        w.put(name);
        w.put("\r\n");
        return;
      case ListKind::kMlsd:
        return write_mlsx_line(w, st, name, "", req_.mlsx);
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
  LineWriter w(out);
  write_ls_long_line(w, st, name, link_target, fmt);
}

std::string ls_long_line(const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt) {
  std::string line;
  append_ls_long_line(line, st, name, link_target, fmt);
  return line;
}

void append_mlsx_line(std::string& out, const struct stat& st, std::string_view name,
                      std::string_view type, const MlsxFormat& fmt) {
  LineWriter w(out);
  write_mlsx_line(w, st, name, type, fmt);
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
  std::string out;
  {
    LineWriter w(out);  // flushed here, before out is returned
    write_mdtm(w, t);
  }
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
