// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for listings: exact LIST lines, MLSD facts, LIST argument parsing, MDTM
// times, and list_build against a real temporary directory tree.
#include "core/protocol/ls.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/ls_reference.hpp"

namespace moat {
namespace {

time_t utc(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}

const time_t kNow = utc(2026, 11, 22, 0, 0, 0);
const time_t kRecent = utc(2026, 11, 21, 19, 52, 0);

struct stat make_stat(mode_t mode, nlink_t nlink, uid_t uid, gid_t gid, off_t size,
                      time_t mtime) {
  struct stat st {};
  st.st_mode = mode;
  st.st_nlink = nlink;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_size = size;
  st.st_mtime = mtime;
  return st;
}

ListFormat fmt_at(time_t now) {
  ListFormat f;
  f.now = now;
  return f;
}

TEST(LsLongLine, RegularFile) {
  auto st = make_stat(S_IFREG | 0644, 1, 1000, 1000, 1024, kRecent);
  EXPECT_EQ(ls_long_line(st, "name", "", fmt_at(kNow)),
            "-rw-r--r--    1 1000     1000         1024 Nov 21 19:52 name\r\n");
}

TEST(LsLongLine, Directory) {
  auto st = make_stat(S_IFDIR | 0755, 3, 0, 0, 4096, kRecent);
  EXPECT_EQ(ls_long_line(st, "pub", "", fmt_at(kNow)),
            "drwxr-xr-x    3 0        0            4096 Nov 21 19:52 pub\r\n");
}

TEST(LsLongLine, Symlink) {
  auto st = make_stat(S_IFLNK | 0777, 1, 1000, 100, 6, kRecent);
  EXPECT_EQ(ls_long_line(st, "link", "target", fmt_at(kNow)),
            "lrwxrwxrwx    1 1000     100             6 Nov 21 19:52 link -> target\r\n");
  // An unreadable link still lists, without the arrow.
  EXPECT_EQ(ls_long_line(st, "link", "", fmt_at(kNow)),
            "lrwxrwxrwx    1 1000     100             6 Nov 21 19:52 link\r\n");
}

TEST(LsLongLine, TargetIgnoredForNonLinks) {
  auto st = make_stat(S_IFREG | 0644, 1, 1, 1, 1, kRecent);
  EXPECT_EQ(ls_long_line(st, "f", "x", fmt_at(kNow)),
            "-rw-r--r--    1 1        1               1 Nov 21 19:52 f\r\n");
}

TEST(LsLongLine, SpecialBits) {
  auto line = [](mode_t m) {
    return ls_long_line(make_stat(m, 1, 0, 0, 0, kRecent), "x", "", fmt_at(kNow)).substr(0, 10);
  };
  EXPECT_EQ(line(S_IFREG | 04755), "-rwsr-xr-x");
  EXPECT_EQ(line(S_IFREG | 04644), "-rwSr--r--");
  EXPECT_EQ(line(S_IFREG | 02755), "-rwxr-sr-x");
  EXPECT_EQ(line(S_IFREG | 02745), "-rwxr-Sr-x");
  EXPECT_EQ(line(S_IFDIR | 01777), "drwxrwxrwt");
  EXPECT_EQ(line(S_IFDIR | 01776), "drwxrwxrwT");
  EXPECT_EQ(line(S_IFREG | 07777), "-rwsrwsrwt");
  EXPECT_EQ(line(S_IFREG | 07000), "---S--S--T");
  EXPECT_EQ(line(S_IFREG | 0), "----------");
}

TEST(LsLongLine, FileTypes) {
  auto type = [](mode_t m) {
    return ls_long_line(make_stat(m | 0600, 1, 0, 0, 0, kRecent), "x", "", fmt_at(kNow))[0];
  };
  EXPECT_EQ(type(S_IFCHR), 'c');
  EXPECT_EQ(type(S_IFBLK), 'b');
  EXPECT_EQ(type(S_IFIFO), 'p');
  EXPECT_EQ(type(S_IFSOCK), 's');
}

TEST(LsLongLine, SetuidFileExact) {
  auto st = make_stat(S_IFREG | 04755, 1, 0, 0, 30952, kRecent);
  EXPECT_EQ(ls_long_line(st, "passwd", "", fmt_at(kNow)),
            "-rwsr-xr-x    1 0        0           30952 Nov 21 19:52 passwd\r\n");
}

TEST(LsLongLine, OldDateShowsYear) {
  auto st = make_stat(S_IFREG | 0644, 1, 1000, 1000, 5, utc(2020, 3, 5, 10, 0, 0));
  EXPECT_EQ(ls_long_line(st, "old", "", fmt_at(kNow)),
            "-rw-r--r--    1 1000     1000            5 Mar 05  2020 old\r\n");
}

TEST(LsLongLine, SixMonthBoundaryAndFuture) {
  auto date = [](time_t t) {
    std::string l = ls_long_line(make_stat(S_IFREG, 1, 0, 0, 0, t), "x", "", fmt_at(kNow));
    return l.substr(43, 12);
  };
  EXPECT_EQ(date(utc(2026, 6, 1, 12, 0, 0)), "Jun 01 12:00");   // ~5.7 months ago
  EXPECT_EQ(date(utc(2026, 5, 1, 12, 0, 0)), "May 01  2026");   // ~6.7 months ago
  EXPECT_EQ(date(kNow + 1800), "Nov 22 00:30");                 // a little ahead: clock skew
  EXPECT_EQ(date(kNow + 7200), "Nov 22  2026");                 // well in the future
  EXPECT_EQ(date(utc(1999, 12, 31, 23, 59, 59)), "Dec 31  1999");
}

TEST(LsLongLine, HideIds) {
  ListFormat f = fmt_at(kNow);
  f.hide_ids = true;
  auto st = make_stat(S_IFREG | 0644, 1, 1000, 1000, 1024, kRecent);
  EXPECT_EQ(ls_long_line(st, "name", "", f),
            "-rw-r--r--    1 ftp      ftp          1024 Nov 21 19:52 name\r\n");
}

TEST(LsLongLine, TextUserdbNames) {
  UserDb names;
  names.users = {{1000, "alice"}, {1001, "a-very-long-name"}};
  names.groups = {{1000, "staff"}};
  ListFormat f = fmt_at(kNow);
  f.names = &names;
  auto st = make_stat(S_IFREG | 0644, 1, 1000, 1000, 1024, kRecent);
  EXPECT_EQ(ls_long_line(st, "name", "", f),
            "-rw-r--r--    1 alice    staff        1024 Nov 21 19:52 name\r\n");
  st = make_stat(S_IFREG | 0644, 1, 1001, 4242, 1024, kRecent);  // no name: the id
  EXPECT_EQ(ls_long_line(st, "name", "", f),
            "-rw-r--r--    1 a-very-long-name 4242         1024 Nov 21 19:52 name\r\n");
  f.hide_ids = true;  // hide_ids wins
  EXPECT_EQ(ls_long_line(st, "name", "", f),
            "-rw-r--r--    1 ftp      ftp          1024 Nov 21 19:52 name\r\n");
}

TEST(LsLongLine, WideFieldsGrow) {
  auto st = make_stat(S_IFREG | 0644, 123456, 4294967294u, 1234567890, 123456789012LL, kRecent);
  EXPECT_EQ(ls_long_line(st, "big", "", fmt_at(kNow)),
            "-rw-r--r-- 123456 4294967294 1234567890 123456789012 Nov 21 19:52 big\r\n");
}

TEST(LsLongLine, EnglishMonthsAndLocaltime) {
  const char* old_tz = getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  setenv("TZ", "EST5", 1);
  tzset();
  ListFormat f = fmt_at(kNow);
  f.use_localtime = true;
  auto st = make_stat(S_IFREG | 0644, 1, 0, 0, 0, kRecent);
  std::string local = ls_long_line(st, "x", "", f);
  f.use_localtime = false;
  std::string gmt = ls_long_line(st, "x", "", f);
  if (old_tz)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
  EXPECT_NE(local.find("Nov 21 14:52 x"), std::string::npos) << local;
  EXPECT_NE(gmt.find("Nov 21 19:52 x"), std::string::npos) << gmt;
  const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int m = 1; m <= 12; ++m) {
    std::string l = ls_long_line(make_stat(S_IFREG, 1, 0, 0, 0, utc(2000, m, 1, 0, 0, 0)), "x",
                                 "", fmt_at(kNow));
    EXPECT_EQ(l.substr(43, 3), months[m - 1]);
  }
}

MlsxFormat mlsx_fmt(uid_t uid, bool write_enable, bool hide_ids = false) {
  MlsxFormat f;
  f.uid = uid;
  f.write_enable = write_enable;
  f.hide_ids = hide_ids;
  return f;
}

TEST(LsMlsx, WritableOwnedFile) {
  auto st = make_stat(S_IFREG | 0644, 1, 1000, 1000, 1024, kRecent);
  EXPECT_EQ(mlsx_line(st, "name", "", mlsx_fmt(1000, true)),
            "type=file;size=1024;modify=20261121195200;perm=adfrw;unix.mode=0644;"
            "unix.uid=1000;unix.gid=1000; name\r\n");
}

TEST(LsMlsx, FilePermFacts) {
  auto perm = [](mode_t mode, uid_t owner, const MlsxFormat& f) {
    std::string l = mlsx_line(make_stat(S_IFREG | mode, 1, owner, 0, 0, kRecent), "f", "", f);
    size_t p = l.find("perm=");
    return l.substr(p + 5, l.find(';', p) - p - 5);
  };
  EXPECT_EQ(perm(0644, 1000, mlsx_fmt(1000, false)), "r");     // writes disabled
  EXPECT_EQ(perm(0644, 2000, mlsx_fmt(1000, true)), "r");      // other's bits: r--
  EXPECT_EQ(perm(0600, 2000, mlsx_fmt(1000, true)), "");       // nothing for others
  EXPECT_EQ(perm(0666, 2000, mlsx_fmt(1000, true)), "adfrw");  // world-writable
  EXPECT_EQ(perm(0444, 1000, mlsx_fmt(1000, true)), "r");      // read-only to owner
  EXPECT_EQ(perm(0200, 1000, mlsx_fmt(1000, true)), "adfw");   // write-only
  EXPECT_EQ(perm(0077, 1000, mlsx_fmt(1000, true)), "");       // owner bits rule for owner
}

TEST(LsMlsx, DirectoryPermFacts) {
  auto st = make_stat(S_IFDIR | 0755, 2, 1000, 1000, 4096, kRecent);
  EXPECT_EQ(mlsx_line(st, "pub", "", mlsx_fmt(1000, true)),
            "type=dir;modify=20261121195200;perm=cdeflmp;unix.mode=0755;unix.uid=1000;"
            "unix.gid=1000; pub\r\n");
  EXPECT_EQ(mlsx_line(st, "pub", "", mlsx_fmt(1000, false)),
            "type=dir;modify=20261121195200;perm=el;unix.mode=0755;unix.uid=1000;"
            "unix.gid=1000; pub\r\n");
  auto no_x = make_stat(S_IFDIR | 0750, 2, 1000, 1000, 4096, kRecent);
  EXPECT_NE(mlsx_line(no_x, "d", "", mlsx_fmt(2000, true)).find(";perm=;"), std::string::npos);
  auto only_x = make_stat(S_IFDIR | 0711, 2, 1000, 1000, 4096, kRecent);
  EXPECT_NE(mlsx_line(only_x, "d", "", mlsx_fmt(2000, true)).find(";perm=e;"),
            std::string::npos);
}

TEST(LsMlsx, TypeOverrideHideIdsAndModes) {
  auto st = make_stat(S_IFDIR | 01777, 2, 0, 0, 4096, kRecent);
  EXPECT_EQ(mlsx_line(st, ".", "cdir", mlsx_fmt(1000, false, true)),
            "type=cdir;modify=20261121195200;perm=el;unix.mode=01777; .\r\n");
  auto suid = make_stat(S_IFREG | 04755, 1, 0, 0, 7, kRecent);
  EXPECT_NE(mlsx_line(suid, "x", "", mlsx_fmt(1, false)).find(";unix.mode=04755;"),
            std::string::npos);
  auto none = make_stat(S_IFREG, 1, 0, 0, 0, kRecent);
  EXPECT_NE(mlsx_line(none, "x", "", mlsx_fmt(1, false)).find(";unix.mode=0000;"),
            std::string::npos);
}

TEST(LsMlsx, DanglingSymlink) {
  auto st = make_stat(S_IFLNK | 0777, 1, 1000, 1000, 7, kRecent);
  EXPECT_EQ(mlsx_line(st, "dead", "", mlsx_fmt(1000, true)),
            "type=OS.unix=symlink;modify=20261121195200;unix.mode=0777;unix.uid=1000;"
            "unix.gid=1000; dead\r\n");
}

TEST(LsMlsx, NameWithSpacesVerbatim) {
  auto st = make_stat(S_IFREG | 0644, 1, 0, 0, 0, kRecent);
  std::string l = mlsx_line(st, " a b ", "", mlsx_fmt(0, false, true));
  EXPECT_EQ(l.substr(l.size() - 9), ";  a b \r\n");
}

TEST(LsArgs, Parse) {
  ListArgs a = parse_list_args("");
  EXPECT_FALSE(a.all || a.recursive || a.directory);
  EXPECT_EQ(a.path, "");

  a = parse_list_args("-la");
  EXPECT_TRUE(a.all);
  EXPECT_FALSE(a.recursive);
  EXPECT_EQ(a.path, "");

  a = parse_list_args("-la /pub");
  EXPECT_TRUE(a.all);
  EXPECT_EQ(a.path, "/pub");

  a = parse_list_args("-R");
  EXPECT_TRUE(a.recursive);
  EXPECT_FALSE(a.all);

  a = parse_list_args("-l -d sub dir");
  EXPECT_TRUE(a.directory);
  EXPECT_EQ(a.path, "sub dir");

  a = parse_list_args("/pub/*.txt");
  EXPECT_EQ(a.path, "/pub/*.txt");
  EXPECT_FALSE(a.all);

  a = parse_list_args("-- -weird");
  EXPECT_EQ(a.path, "-weird");
  EXPECT_FALSE(a.all);

  a = parse_list_args("-a -- -l");
  EXPECT_TRUE(a.all);
  EXPECT_EQ(a.path, "-l");

  a = parse_list_args("-xyzA file");  // unknown letters ignored, -A counts as -a
  EXPECT_TRUE(a.all);
  EXPECT_EQ(a.path, "file");

  a = parse_list_args(" leading");  // no option: the whole argument is the path
  EXPECT_EQ(a.path, " leading");

  a = parse_list_args("-l ");
  EXPECT_EQ(a.path, "");
}

TEST(LsMdtm, FormatAndParse) {
  EXPECT_EQ(time_mdtm(0), "19700101000000");
  EXPECT_EQ(time_mdtm(kRecent), "20261121195200");
  EXPECT_EQ(time_mdtm(utc(2000, 2, 29, 23, 59, 59)), "20000229235959");

  auto t = parse_mdtm("20261121195200");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, kRecent);
  auto f = parse_mdtm("20261121195200.123");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, kRecent);
  ASSERT_TRUE(parse_mdtm("20000229000000").ok());
  ASSERT_TRUE(parse_mdtm("19700101000000").ok());
  EXPECT_EQ(*parse_mdtm("19700101000000"), 0);
  EXPECT_EQ(*parse_mdtm(time_mdtm(1234567890)), 1234567890);
}

// The formatter writes fields whole into a buffer and dates by calendar arithmetic;
// the reference (tests/fuzz/ls_reference.hpp) uses snprintf, gmtime_r and strftime.
// They must agree on every line: all file types and mode bits, counts and sizes up
// to 64 bits, times from before year 0 to past the int years gmtime_r can hold, the
// six-month and one-hour edges, hidden ids and text_userdb_names of every length.
TEST(LsFormatter, MatchesPlainReference) {
  std::mt19937_64 rng(20261206);
  UserDb names;
  for (unsigned id = 0; id < 100; id += 3) names.users.emplace(id, std::string(id % 13, 'u') + "x");
  for (unsigned id = 0; id < 100; id += 5) names.groups.emplace(id, std::string(id % 11, 'g'));
  const time_t kIntYears = 67767976233316800LL;  // about where gmtime_r's int year ends
  const time_t edges[] = {0, -1, kNow - 15778476, kNow - 15778475, kNow + 3600, kNow + 3601,
                          kIntYears, -kIntYears, LLONG_MAX, LLONG_MIN, 253402300799, 253402300800,
                          -62167219200, -62167219201, 951782400, 4107542400};
  auto random_time = [&]() -> time_t {
    switch (rng() % 6) {
      case 0: return kNow - static_cast<time_t>(rng() % 20000000);
      case 1: return static_cast<time_t>(rng());
      case 2: return static_cast<time_t>(rng() % 400000000000LL) - 200000000000LL;
      case 3: return kIntYears + static_cast<time_t>(rng() % 200000000000LL) - 100000000000LL;
      case 4: return edges[rng() % std::size(edges)];
      default: return static_cast<time_t>(rng() % 4000000000LL) - 2000000000LL;
    }
  };
  for (int i = 0; i < 200000; ++i) {
    struct stat st {};
    st.st_mode = static_cast<mode_t>(rng() % 0200000);
    st.st_nlink = rng() % 2 ? rng() % 100 : rng();
    st.st_uid = static_cast<uid_t>(rng() % 2 ? rng() % 100 : rng());
    st.st_gid = static_cast<gid_t>(rng() % 2 ? rng() % 100 : rng());
    st.st_size = static_cast<off_t>(rng() % 2 ? rng() % 100000 : rng());
    st.st_mtime = random_time();
    ListFormat f = fmt_at(kNow);
    f.hide_ids = rng() % 4 == 0;
    f.names = rng() % 3 == 0 ? &names : nullptr;
    std::string name(rng() % 300 + 1, static_cast<char>('a' + rng() % 26));
    std::string link = rng() % 2 ? std::string(rng() % 5000, 'l') : "";
    ASSERT_EQ(ls_long_line(st, name, link, f), reference::ls_line(st, name, link, f)) << i;
    MlsxFormat m = mlsx_fmt(rng() % 2 ? st.st_uid : 7, rng() % 2, rng() % 4 == 0);
    std::string type = rng() % 10 == 0 ? "cdir" : "";
    ASSERT_EQ(mlsx_line(st, name, type, m), reference::mlsx_line(st, name, type, m)) << i;
    ASSERT_EQ(time_mdtm(st.st_mtime), reference::mdtm(st.st_mtime)) << st.st_mtime;
  }
}

TEST(LsFormatter, LocalTimeMatchesPlainReference) {
  const char* old_tz = getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);  // with daylight saving time
  tzset();
  std::mt19937_64 rng(7);
  ListFormat f = fmt_at(kNow);
  f.use_localtime = true;
  for (int i = 0; i < 20000; ++i) {
    auto st = make_stat(S_IFREG | 0644, 1, 0, 0, 0, kNow - static_cast<time_t>(rng() % 40000000));
    ASSERT_EQ(ls_long_line(st, "x", "", f), reference::ls_line(st, "x", "", f)) << st.st_mtime;
  }
  if (old_tz)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}

TEST(LsMdtm, RejectsBadTimes) {
  for (const char* bad :
       {"", "2026112119520", "202611211952000", "2026-11-21195200", "20261321195200",
        "20260021195200", "20261100195200", "20261131195200", "20260230000000",
        "19000229000000", "20261121245200", "20261121196000", "20261121195261",
        "20261121195200.", "20261121195200.12a", "20261121195200,5", " 20261121195200",
        "20261121195200 ", "18991231235959", "2026112119520x", "+2026112119520"}) {
    EXPECT_FALSE(parse_mdtm(bad).ok()) << bad;
  }
}

// A temporary directory the test chdirs into, since list_build works relative to cwd.
class LsBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat_ls_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    old_cwd_ = std::filesystem::current_path();
    ASSERT_EQ(chdir(root_.c_str()), 0);
    write_file("a.txt", "hello", 0644);
    write_file("b.log", "", 0600);
    write_file(".hidden", "", 0644);
    write_file("bad\nname", "", 0644);
    make_dir("sub");
    write_file("sub/c.txt", "c", 0644);
    make_dir("sub/sub2");
    write_file("sub/sub2/d.txt", "d", 0644);
    make_dir("sub/.dotdir");
    ASSERT_EQ(symlink("a.txt", "link"), 0);
    ASSERT_EQ(symlink("nowhere", "dangling"), 0);
    ASSERT_EQ(symlink("sub", "dirlink"), 0);
  }

  void TearDown() override {
    std::filesystem::current_path(old_cwd_);
    std::filesystem::remove_all(root_);
  }

  static void write_file(const std::string& name, const std::string& data, mode_t mode) {
    int fd = open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(fchmod(fd, mode), 0);
    close(fd);
  }

  static void make_dir(const std::string& name) { ASSERT_EQ(mkdir(name.c_str(), 0755), 0); }

  static ListRequest request(ListKind kind, std::string_view arg) {
    ListRequest r;
    r.kind = kind;
    r.args = parse_list_args(arg);
    r.fmt.now = time(nullptr);
    r.fmt.hide_ids = true;
    r.mlsx.uid = getuid();
    return r;
  }

  static std::string build(const ListRequest& r) {
    auto out = list_build(r);
    EXPECT_TRUE(out.ok()) << out.error();
    return out.ok() ? *out : "";
  }

  static std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> v;
    size_t start = 0;
    while (start < s.size()) {
      size_t e = s.find("\r\n", start);
      EXPECT_NE(e, std::string::npos) << "unterminated line";
      if (e == std::string::npos) break;
      v.push_back(s.substr(start, e - start));
      start = e + 2;
    }
    return v;
  }

  static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  }

  std::string root_;
  std::filesystem::path old_cwd_;
};

TEST_F(LsBuild, NlstSortedWithoutDotFilesOrBadNames) {
  EXPECT_EQ(build(request(ListKind::kNames, "")),
            "a.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, ".")),
            "a.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
}

TEST_F(LsBuild, DotFilesWithAllOrForce) {
  EXPECT_EQ(build(request(ListKind::kNames, "-a")),
            ".hidden\r\na.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
  ListRequest r = request(ListKind::kNames, "");
  r.force_dot_files = true;
  EXPECT_EQ(build(r), ".hidden\r\na.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
}

TEST_F(LsBuild, LongListing) {
  auto v = lines(build(request(ListKind::kLong, "-l")));
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0].substr(0, 10), "-rw-r--r--");
  EXPECT_TRUE(ends_with(v[0], " 5 " + v[0].substr(43, 12) + " a.txt")) << v[0];
  EXPECT_NE(v[0].find(" ftp      ftp "), std::string::npos);
  EXPECT_EQ(v[1].substr(0, 10), "-rw-------");
  EXPECT_TRUE(ends_with(v[2], " dangling -> nowhere")) << v[2];
  EXPECT_EQ(v[2][0], 'l');
  EXPECT_TRUE(ends_with(v[3], " dirlink -> sub")) << v[3];
  EXPECT_TRUE(ends_with(v[4], " link -> a.txt")) << v[4];
  EXPECT_EQ(v[5].substr(0, 10), "drwxr-xr-x");
  EXPECT_TRUE(ends_with(v[5], " sub")) << v[5];
}

TEST_F(LsBuild, NumericIdsUnlessHidden) {
  ListRequest r = request(ListKind::kLong, "a.txt");
  r.fmt.hide_ids = false;
  std::string id = std::to_string(getuid());
  std::string out = build(r);
  ASSERT_GT(out.size(), 34u);
  EXPECT_EQ(out.substr(16, id.size()), id) << out;
  std::string gid = std::to_string(getgid());
  EXPECT_EQ(out.substr(25, gid.size()), gid) << out;
}

TEST_F(LsBuild, SubdirectoryPrefixesNlstOnly) {
  EXPECT_EQ(build(request(ListKind::kNames, "sub")), "sub/c.txt\r\nsub/sub2\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "sub/")), "sub/c.txt\r\nsub/sub2\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "-a sub")),
            "sub/.dotdir\r\nsub/c.txt\r\nsub/sub2\r\n");
  auto v = lines(build(request(ListKind::kLong, "sub")));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(ends_with(v[0], " c.txt"));
  EXPECT_TRUE(ends_with(v[1], " sub2"));
  std::string abs = root_ + "/sub";
  EXPECT_EQ(build(request(ListKind::kNames, abs)), abs + "/c.txt\r\n" + abs + "/sub2\r\n");
}

TEST_F(LsBuild, SymlinkToDirectoryListsItsContents) {
  EXPECT_EQ(build(request(ListKind::kNames, "dirlink")), "dirlink/c.txt\r\ndirlink/sub2\r\n");
}

TEST_F(LsBuild, FileArgumentListsOneEntry) {
  EXPECT_EQ(build(request(ListKind::kNames, "a.txt")), "a.txt\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "sub/c.txt")), "sub/c.txt\r\n");
  auto v = lines(build(request(ListKind::kLong, "-l sub/c.txt")));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(ends_with(v[0], " sub/c.txt"));
  auto l = lines(build(request(ListKind::kLong, "link")));
  ASSERT_EQ(l.size(), 1u);
  EXPECT_TRUE(ends_with(l[0], " link -> a.txt"));
  auto d = lines(build(request(ListKind::kLong, "dangling")));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(ends_with(d[0], " dangling -> nowhere"));
}

TEST_F(LsBuild, DashDListsDirectoryItself) {
  auto v = lines(build(request(ListKind::kLong, "-ld sub")));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0][0], 'd');
  EXPECT_TRUE(ends_with(v[0], " sub"));
  EXPECT_EQ(build(request(ListKind::kNames, "-d sub")), "sub\r\n");
}

TEST_F(LsBuild, Globs) {
  EXPECT_EQ(build(request(ListKind::kNames, "*.txt")), "a.txt\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "sub/*.txt")), "sub/c.txt\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "?.*")), "a.txt\r\nb.log\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "[ab].*")), "a.txt\r\nb.log\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "*")),
            "a.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "-a *")),
            ".hidden\r\na.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, ".h*")), ".hidden\r\n");
  EXPECT_EQ(build(request(ListKind::kNames, "*.none")), "");
  std::string abs = root_ + "/sub/*.txt";
  EXPECT_EQ(build(request(ListKind::kNames, abs)), root_ + "/sub/c.txt\r\n");
  auto v = lines(build(request(ListKind::kLong, "-l l*")));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(ends_with(v[0], " link -> a.txt"));
  EXPECT_FALSE(list_build(request(ListKind::kNames, "nodir/*.txt")).ok());
}

TEST_F(LsBuild, GlobCharactersInRealNameAreLiteral) {
  write_file("star*", "", 0644);
  EXPECT_EQ(build(request(ListKind::kNames, "star*")), "star*\r\n");
  write_file("star*2", "", 0644);
  EXPECT_EQ(build(request(ListKind::kNames, "star*")), "star*\r\n");
}

TEST_F(LsBuild, RecursiveOnlyWhenEnabled) {
  ListRequest r = request(ListKind::kNames, "-R");
  std::string flat = "a.txt\r\nb.log\r\ndangling\r\ndirlink\r\nlink\r\nsub\r\n";
  EXPECT_EQ(build(r), flat);
  r.recurse_enable = true;
  EXPECT_EQ(build(r), flat +
                          "\r\n./sub:\r\nc.txt\r\nsub2\r\n"
                          "\r\n./sub/sub2:\r\nd.txt\r\n");
  ListRequest l = request(ListKind::kLong, "-lR sub");
  l.recurse_enable = true;
  auto v = lines(build(l));
  ASSERT_EQ(v.size(), 5u);
  EXPECT_TRUE(ends_with(v[0], " c.txt"));
  EXPECT_TRUE(ends_with(v[1], " sub2"));
  EXPECT_EQ(v[2], "");
  EXPECT_EQ(v[3], "sub/sub2:");
  EXPECT_TRUE(ends_with(v[4], " d.txt"));
}

TEST_F(LsBuild, RecursionDepthIsLimited) {
  std::string path = "deep";
  make_dir(path);
  for (int i = 0; i < 20; ++i) {
    path += "/d";
    make_dir(path);
  }
  ListRequest r = request(ListKind::kNames, "-R deep");
  r.recurse_enable = true;
  std::string out = build(r);
  size_t headers = 0;
  for (const std::string& l : lines(out))
    if (!l.empty() && l.back() == ':') ++headers;
  EXPECT_EQ(headers, 16u);
  EXPECT_EQ(out.substr(0, 8), "deep/d\r\n");
}

TEST_F(LsBuild, Errors) {
  auto missing = list_build(request(ListKind::kLong, "nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "No such file or directory");
  auto notdir = list_build(request(ListKind::kNames, "a.txt/x"));
  ASSERT_FALSE(notdir.ok());
  EXPECT_EQ(notdir.error(), "Not a directory");
  auto mlsd_file = list_build(request(ListKind::kMlsd, "a.txt"));
  ASSERT_FALSE(mlsd_file.ok());
  EXPECT_EQ(mlsd_file.error(), "Not a directory");
  EXPECT_FALSE(list_build(request(ListKind::kMlsd, "*.txt")).ok());
  EXPECT_FALSE(list_build(request(ListKind::kMlsd, "nope")).ok());
  auto crlf = list_build(request(ListKind::kNames, "bad\nname"));  // exists, but unlistable
  ASSERT_FALSE(crlf.ok());
  EXPECT_EQ(crlf.error(), "No such file or directory");
}

TEST_F(LsBuild, MlsdFacts) {
  ListRequest r = request(ListKind::kMlsd, "");
  r.mlsx.write_enable = true;
  auto v = lines(build(r));
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0].substr(0, 10), "type=cdir;");
  EXPECT_TRUE(ends_with(v[0], "; ."));
  EXPECT_EQ(v[1].substr(0, 26), "type=file;size=5;modify=20");
  EXPECT_NE(v[1].find(";perm=adfrw;unix.mode=0644;unix.uid="), std::string::npos) << v[1];
  EXPECT_TRUE(ends_with(v[1], "; a.txt"));
  EXPECT_NE(v[2].find(";perm=adfrw;unix.mode=0600;"), std::string::npos) << v[2];
  EXPECT_EQ(v[3].substr(0, 21), "type=OS.unix=symlink;");
  EXPECT_TRUE(ends_with(v[3], "; dangling"));
  EXPECT_EQ(v[4].substr(0, 9), "type=dir;");  // dirlink describes its target
  EXPECT_TRUE(ends_with(v[4], "; dirlink"));
  EXPECT_EQ(v[5].substr(0, 17), "type=file;size=5;");  // link -> a.txt
  EXPECT_EQ(v[6].substr(0, 9), "type=dir;");
  EXPECT_NE(v[6].find(";perm=cdeflmp;"), std::string::npos) << v[6];

  r.mlsx.write_enable = false;
  r.mlsx.hide_ids = true;
  auto ro = lines(build(r));
  ASSERT_EQ(ro.size(), 7u);
  EXPECT_NE(ro[1].find(";perm=r;unix.mode=0644; a.txt"), std::string::npos) << ro[1];
  EXPECT_NE(ro[6].find(";perm=el;unix.mode=0755; sub"), std::string::npos) << ro[6];
}

TEST_F(LsBuild, MlsdIgnoresRecursionAndShowsDotsOnlyWhenForced) {
  ListRequest r = request(ListKind::kMlsd, "sub");
  r.args.recursive = true;
  r.recurse_enable = true;
  auto v = lines(build(r));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(ends_with(v[1], "; c.txt"));
  EXPECT_TRUE(ends_with(v[2], "; sub2"));
  r.force_dot_files = true;
  auto d = lines(build(r));
  ASSERT_EQ(d.size(), 4u);
  EXPECT_TRUE(ends_with(d[1], "; .dotdir"));
}

TEST_F(LsBuild, TenThousandEntriesSorted) {
  make_dir("big");
  std::vector<std::string> names;
  names.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    // Unpadded numbers in scrambled creation order: byte order differs from numeric.
    int n = (i * 7919) % 10000;
    names.push_back("f" + std::to_string(n));
    int fd = open(("big/" + names.back()).c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  std::sort(names.begin(), names.end());
  ListRequest r = request(ListKind::kLong, "big");
  auto start = std::chrono::steady_clock::now();
  auto out = list_build(r);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  ASSERT_TRUE(out.ok());
  auto v = lines(*out);
  ASSERT_EQ(v.size(), 10000u);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_TRUE(ends_with(v[i], " " + names[i])) << i;
  RecordProperty("list_ms", static_cast<int>(ms));
  EXPECT_LT(ms, 5000) << "listing 10,000 entries took " << ms << " ms";
  auto nlst = list_build(request(ListKind::kNames, "big"));
  ASSERT_TRUE(nlst.ok());
  EXPECT_EQ(lines(*nlst).size(), 10000u);
  auto mlsd = list_build(request(ListKind::kMlsd, "big"));
  ASSERT_TRUE(mlsd.ok());
  EXPECT_EQ(lines(*mlsd).size(), 10001u);
}

// The producer behind a data connection: chunks of about the size asked for, which
// put together are the whole listing.
TEST_F(LsBuild, StreamsInChunks) {
  make_dir("many");
  for (int i = 0; i < 2000; ++i) write_file("many/f" + std::to_string(10000 + i), "", 0644);
  for (ListKind kind : {ListKind::kLong, ListKind::kNames, ListKind::kMlsd}) {
    std::string whole = build(request(kind, "many"));
    auto stream = ListStream::open(request(kind, "many"));
    ASSERT_TRUE(stream.ok());
    std::string joined;
    int chunks = 0;
    for (bool more = true; more; ++chunks) {
      std::string chunk;
      more = (*stream)->fill(chunk, 4096);
      EXPECT_TRUE(!more || chunk.size() >= 4096);
      EXPECT_LT(chunk.size(), 4096u + 200u);  // it stops at the first line past the mark
      joined += chunk;
    }
    EXPECT_EQ(joined, whole);
    EXPECT_GT(chunks, 3);
  }
}

// open() only checks the path and opens the directory, so the 150 reply goes out at
// once; the first chunk reads the directory whole, each entry stat'ed as its name
// arrives (while the kernel's caches hold it), so what was there then is what the
// listing shows, even of entries removed while later chunks are produced.
TEST_F(LsBuild, ReadsEachDirectoryWholeWhenItsListingStarts) {
  make_dir("many");
  for (int i = 0; i < 500; ++i) write_file("many/f" + std::to_string(10000 + i), "", 0644);
  for (ListKind kind : {ListKind::kLong, ListKind::kNames, ListKind::kMlsd}) {
    auto stream = ListStream::open(request(kind, "many"));
    ASSERT_TRUE(stream.ok());
    write_file("many/added-after-open", "", 0644);
    std::string listing;
    ASSERT_TRUE((*stream)->fill(listing, 4096));
    for (int i = 0; i < 500; ++i) unlink(("many/f" + std::to_string(10000 + i)).c_str());
    while ((*stream)->fill(listing, 4096)) {
    }
    auto v = lines(listing);
    EXPECT_EQ(v.size(), kind == ListKind::kMlsd ? 502u : 501u);
    EXPECT_TRUE(ends_with(v.front(), kind == ListKind::kMlsd ? " ." : "added-after-open"));
    EXPECT_TRUE(ends_with(v.back(), "f10499")) << v.back();
    for (int i = 0; i < 500; ++i) write_file("many/f" + std::to_string(10000 + i), "", 0644);
    unlink("many/added-after-open");
  }
}

// -R reads a subdirectory only when the listing reaches it, and in order.
TEST_F(LsBuild, StreamedRecursionMatchesWholeListing) {
  ListRequest r = request(ListKind::kLong, "-R");
  r.recurse_enable = true;
  std::string whole = build(r);
  EXPECT_NE(whole.find("\r\n./sub/sub2:\r\n"), std::string::npos) << whole;
  auto stream = ListStream::open(r);
  ASSERT_TRUE(stream.ok());
  std::string joined;
  while ((*stream)->fill(joined, 1)) {
  }
  EXPECT_EQ(joined, whole);
}

}  // namespace
}  // namespace moat
