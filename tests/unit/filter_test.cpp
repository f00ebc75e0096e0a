// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for deny_file/hide_file patterns: parsing vsftpd's brace syntax (good and
// malformed), glob matching, path normalisation and the name/path match rules.
#include "core/common/filter.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/protocol/ls.hpp"

namespace moat {
namespace {

FilterPattern parsed(std::string_view text) {
  auto p = filter_parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << (p.ok() ? "" : p.error());
  return p.ok() ? *p : FilterPattern{};
}

TEST(FilterParse, EmptyMatchesNothing) {
  FilterPattern p = parsed("");
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.globs.empty());
  EXPECT_FALSE(filter_match_name(p, "anything"));
  EXPECT_FALSE(filter_match_path(p, "a/b", "/a/b"));
}

TEST(FilterParse, BraceListExpands) {
  FilterPattern p = parsed("{*.mp3,*.mov,.private}");
  EXPECT_EQ(p.text, "{*.mp3,*.mov,.private}");
  EXPECT_EQ(p.globs, (std::vector<std::string>{"*.mp3", "*.mov", ".private"}));
}

TEST(FilterParse, PlainPatternIsOneGlob) {
  EXPECT_EQ(parsed("*.iso").globs, std::vector<std::string>{"*.iso"});
}

TEST(FilterParse, PrefixSuffixAndSeveralGroups) {
  EXPECT_EQ(parsed("a{b,c}d").globs, (std::vector<std::string>{"abd", "acd"}));
  EXPECT_EQ(parsed("{x,y}.{1,2}").globs,
            (std::vector<std::string>{"x.1", "x.2", "y.1", "y.2"}));
  EXPECT_EQ(parsed("{a,}").globs, (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(parsed("{}").globs, std::vector<std::string>{""});
}

TEST(FilterParse, CommaOutsideBracesIsLiteral) {
  EXPECT_EQ(parsed("a,b").globs, std::vector<std::string>{"a,b"});
}

TEST(FilterParse, MalformedBracesAreErrors) {
  for (const char* bad : {"{a,b", "a}", "{a,{b}}", "{a}}", "}{", "x{y", "{{a}}"}) {
    auto p = filter_parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
  }
  EXPECT_NE(filter_parse("{a").error().find("'{' without '}'"), std::string::npos);
  EXPECT_NE(filter_parse("a}").error().find("'}' without '{'"), std::string::npos);
  EXPECT_NE(filter_parse("{a{b}}").error().find("inside"), std::string::npos);
}

TEST(FilterParse, ExpansionIsBounded) {
  std::string big;
  for (int i = 0; i < 5; ++i) big += "{a,b,c,d}";  // 4^5 = 1024 alternatives
  EXPECT_FALSE(filter_parse(big).ok());
  std::string ok;
  for (int i = 0; i < 4; ++i) ok += "{a,b,c,d}";  // 256
  auto p = filter_parse(ok);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->globs.size(), 256u);
  std::string long_alt(4000, 'x');
  EXPECT_FALSE(filter_parse("{" + long_alt + "}{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17}").ok());
}

TEST(GlobMatch, Literals) {
  EXPECT_TRUE(glob_match("abc", "abc"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  EXPECT_FALSE(glob_match("abc", "ab"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
}

TEST(GlobMatch, Star) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "a/b"));  // '*' crosses '/', as in vsftpd
  EXPECT_TRUE(glob_match("*.mp3", "song.mp3"));
  EXPECT_TRUE(glob_match("*.mp3", "a.mp3.mp3"));  // vsftpd's first-occurrence search misses this
  EXPECT_FALSE(glob_match("*.mp3", "song.mp3.txt"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
  EXPECT_TRUE(glob_match("**x", "x"));
  EXPECT_TRUE(glob_match("dir/*", "dir/file"));
}

TEST(GlobMatch, Question) {
  EXPECT_TRUE(glob_match("?", "a"));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_FALSE(glob_match("?", "ab"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_TRUE(glob_match("*?", "x"));
}

TEST(GlobMatch, SpecialBytesAreLiteral) {
  EXPECT_TRUE(glob_match("[ab]", "[ab]"));
  EXPECT_FALSE(glob_match("[ab]", "a"));
  EXPECT_TRUE(glob_match("\xff*", std::string("\xff\xfe", 2)));
  EXPECT_TRUE(glob_match("a*", std::string("a\0b", 3)));
}

TEST(GlobMatch, PathologicalInputStaysFast) {
  std::string text(4096, 'a');
  std::string glob;
  for (int i = 0; i < 50; ++i) glob += "*a";
  glob += "b";
  EXPECT_FALSE(glob_match(glob, text));  // quadratic at worst, never exponential
}

TEST(PathNormalize, Folds) {
  EXPECT_EQ(path_normalize("/./home/"), "/home");
  EXPECT_EQ(path_normalize("//a//b/"), "/a/b");
  EXPECT_EQ(path_normalize("a/../b"), "b");
  EXPECT_EQ(path_normalize("/../../etc"), "/etc");
  EXPECT_EQ(path_normalize("../x"), "../x");
  EXPECT_EQ(path_normalize("a/../../x"), "../x");
  EXPECT_EQ(path_normalize(""), ".");
  EXPECT_EQ(path_normalize("."), ".");
  EXPECT_EQ(path_normalize("/"), "/");
  EXPECT_EQ(path_normalize("a/.."), ".");
}

TEST(FilterMatch, NameUsesGlobsAndLiteralText) {
  FilterPattern p = parsed("{*.mp3,*.mov,.private}");
  EXPECT_TRUE(filter_match_name(p, "a.mp3"));
  EXPECT_TRUE(filter_match_name(p, ".private"));
  EXPECT_FALSE(filter_match_name(p, ".private2"));
  EXPECT_FALSE(filter_match_name(p, "a.mp4"));
  FilterPattern plain = parsed(".ht");  // vsftpd: a name containing the text matches
  EXPECT_TRUE(filter_match_name(plain, ".htaccess"));
  EXPECT_TRUE(filter_match_name(plain, "x.ht"));
  EXPECT_FALSE(filter_match_name(plain, "ht"));
}

TEST(FilterMatch, PathComponentsAndTricks) {
  FilterPattern p = parsed("{*.mp3,.private}");
  EXPECT_TRUE(filter_match_path(p, ".private", "/.private"));
  EXPECT_TRUE(filter_match_path(p, "./.private", "/./.private"));
  EXPECT_TRUE(filter_match_path(p, ".private/", "/.private/"));
  EXPECT_TRUE(filter_match_path(p, "dir/.private/file", "/dir/.private/file"));
  EXPECT_TRUE(filter_match_path(p, "/pub//x.mp3", "/pub//x.mp3"));
  EXPECT_TRUE(filter_match_path(p, "sub/x.mp3", "/home/u/sub/x.mp3"));
  EXPECT_FALSE(filter_match_path(p, "public/file", "/public/file"));
  EXPECT_FALSE(filter_match_path(p, "x.mp3.txt", "/x.mp3.txt"));
  EXPECT_FALSE(filter_match_path(p, "..", "/.."));
}

TEST(FilterMatch, PatternWithSlashMatchesNormalisedPaths) {
  // CVE-2015-1419: "/./home/" slipped past deny_file=/home/* in vsftpd 3.0.2.
  FilterPattern p = parsed("/home/*");
  EXPECT_TRUE(filter_match_path(p, "/home/x", "/home/x"));
  EXPECT_TRUE(filter_match_path(p, "/./home/x", "/./home/x"));
  EXPECT_TRUE(filter_match_path(p, "//home//x", "//home//x"));
  EXPECT_TRUE(filter_match_path(p, "x", "/home/x"));  // relative, from cwd /home
  EXPECT_TRUE(filter_match_path(p, "../home/x", "/srv/../home/x"));
  EXPECT_FALSE(filter_match_path(p, "/srv/x", "/srv/x"));
}

TEST(FilterMatch, CwdComponentsAreNotMatched) {
  // The session's own directory names must not deny everything below them.
  FilterPattern p = parsed("{.private,ftp.d}");
  EXPECT_FALSE(filter_match_path(p, "file", "/srv/ftp.d/file"));
  EXPECT_FALSE(filter_match_path(p, "file", "/x/.private/file"));
}

TEST(FilterMatch, LiteralRuleAppliesToTheArgument) {
  FilterPattern p = parsed("secret");
  EXPECT_TRUE(filter_match_path(p, "my-secret-file", "/my-secret-file"));
  EXPECT_FALSE(filter_match_path(p, "file", "/secret-dir/file"));
}

// hide_file as the worker wires it into listings: entries whose names match are
// left out of every kind of listing; a path named explicitly is still listed.
class FilterListing : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat_filter_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    old_cwd_ = std::filesystem::current_path();
    ASSERT_EQ(chdir(root_.c_str()), 0);
    for (const char* f : {"a.txt", "song.mp3", ".private", "sub/b.mp3", "sub/c.txt"}) {
      if (std::string(f).rfind("sub/", 0) == 0) mkdir("sub", 0755);
      int fd = open(f, O_WRONLY | O_CREAT, 0644);
      ASSERT_GE(fd, 0);
      close(fd);
    }
    hide_ = parsed("{*.mp3,.private}");
  }
  void TearDown() override {
    std::filesystem::current_path(old_cwd_);
    std::filesystem::remove_all(root_);
  }
  std::string build(ListKind kind, std::string_view arg, bool recurse = false) {
    ListRequest r;
    r.kind = kind;
    if (kind == ListKind::kMlsd)
      r.args.path = std::string(arg);
    else
      r.args = parse_list_args(arg);
    r.recurse_enable = recurse;
    r.hidden = [this](std::string_view name) { return filter_match_name(hide_, name); };
    auto out = list_build(r);
    EXPECT_TRUE(out.ok()) << arg;
    return out.ok() ? *out : "";
  }
  std::string root_;
  std::filesystem::path old_cwd_;
  FilterPattern hide_;
};

TEST_F(FilterListing, NlstLeavesOutHiddenNames) {
  EXPECT_EQ(build(ListKind::kNames, "-a"), "a.txt\r\nsub\r\n");
  EXPECT_EQ(build(ListKind::kNames, "sub"), "sub/c.txt\r\n");
  EXPECT_EQ(build(ListKind::kNames, "*"), "a.txt\r\nsub\r\n");
}

TEST_F(FilterListing, LongRecursiveAndMlsd) {
  std::string ls = build(ListKind::kLong, "-laR", true);
  EXPECT_EQ(ls.find("mp3"), std::string::npos) << ls;
  EXPECT_EQ(ls.find(".private"), std::string::npos) << ls;
  EXPECT_NE(ls.find("c.txt"), std::string::npos) << ls;
  std::string mlsd = build(ListKind::kMlsd, "");
  EXPECT_EQ(mlsd.find("mp3"), std::string::npos) << mlsd;
  EXPECT_NE(mlsd.find(" a.txt\r\n"), std::string::npos) << mlsd;
}

TEST_F(FilterListing, ExplicitNameIsStillListed) {
  EXPECT_EQ(build(ListKind::kNames, "song.mp3"), "song.mp3\r\n");
}

TEST_F(FilterListing, WithoutThePatternEverythingShows) {
  hide_ = FilterPattern{};
  EXPECT_EQ(build(ListKind::kNames, "-a"), ".private\r\na.txt\r\nsong.mp3\r\nsub\r\n");
}

}  // namespace
}  // namespace moat
