// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/xferlog: wu-ftpd xferlog lines and vsftpd-format lines, byte for byte.
#include "core/common/xferlog.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace moat {
namespace {

constexpr time_t kSat = 1795290728;  // Sat Nov 21 19:52:08 2026 UTC
constexpr time_t kTue = 1709611506;  // Tue Mar  5 04:05:06 2024 UTC

TransferRecord download() {
  TransferRecord r;
  r.end_time = kSat;
  r.seconds = 1;
  r.remote_host = "127.0.0.1";
  r.bytes = 1024;
  r.path = "/pub/f";
  r.anonymous = true;
  r.user = "user@";
  return r;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

// Sets TZ for one test and puts the old value back.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    had_ = std::getenv("TZ") != nullptr;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (had_) {
      ::setenv("TZ", old_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::string old_;
  bool had_ = false;
};

// ---- wu-ftpd xferlog --------------------------------------------------------

TEST(XferlogStd, AnonymousDownloadExactly) {
  EXPECT_EQ(xferlog_line(download(), false),
            "Sat Nov 21 19:52:08 2026 1 127.0.0.1 1024 /pub/f b _ o a user@ ftp 0 * c\n");
}

TEST(XferlogStd, RealUserAsciiUploadIncomplete) {
  TransferRecord r = download();
  r.end_time = kTue;
  r.seconds = 12.7;
  r.bytes = 5000000000ULL;
  r.path = "/home/bob/big.iso";
  r.ascii = true;
  r.upload = true;
  r.anonymous = false;
  r.user = "bob";
  r.complete = false;
  EXPECT_EQ(xferlog_line(r, false),
            "Tue Mar  5 04:05:06 2024 12 127.0.0.1 5000000000 /home/bob/big.iso a _ i r bob ftp 0 "
            "* i\n");
}

TEST(XferlogStd, DayOfMonthIsPaddedWithASpace) {
  TransferRecord r = download();
  r.end_time = kTue;
  const std::string line = xferlog_line(r, false);
  EXPECT_EQ(line.rfind("Tue Mar  5 04:05:06 2024 ", 0), 0u) << line;
  r.end_time = 0;
  EXPECT_EQ(xferlog_line(r, false).rfind("Thu Jan  1 00:00:00 1970 ", 0), 0u);
}

TEST(XferlogStd, SecondsAreWholeWithAFloorOfOne) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "1"},     {0.4, "1"}, {0.999, "1"}, {1.0, "1"},         {2.9, "2"},
      {100, "100"}, {-5, "1"},  {NAN, "1"},   {86400.5, "86400"},
  };
  for (const auto& [secs, want] : cases) {
    TransferRecord r = download();
    r.seconds = secs;
    EXPECT_EQ(fields(xferlog_line(r, false)).at(5), want) << secs;
  }
}

TEST(XferlogStd, EighteenFieldsEvenWithSpacesInNames) {
  TransferRecord r = download();
  r.path = "/pub/my file name.txt";
  r.user = "an on@example.com";
  const std::string line = xferlog_line(r, false);
  EXPECT_NE(line.find(" /pub/my_file_name.txt b _ o a an_on@example.com ftp 0 * c\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(fields(line).size(), 18u);
}

TEST(XferlogStd, ControlCharactersCannotForgeLines) {
  TransferRecord r = download();
  r.path = "/x\nSat Nov 21 19:52:08 2026 1 6.6.6.6 1 /etc/shadow b _ o r root ftp 0 * c";
  r.user = "evil\r\n\x1b";
  const std::string line = xferlog_line(r, false);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find(" /x?Sat_Nov_21"), std::string::npos) << line;
  EXPECT_NE(line.find(" a evil??? ftp 0 * c\n"), std::string::npos) << line;
}

TEST(XferlogStd, Utf8NamesAreKept) {
  TransferRecord r = download();
  r.path = "/pub/Grüße/данные.txt";
  EXPECT_NE(xferlog_line(r, false).find(" /pub/Grüße/данные.txt b "), std::string::npos);
}

TEST(XferlogStd, EmptyAnonymousPasswordLeavesTheFieldEmptyAsVsftpdDoes) {
  TransferRecord r = download();
  r.user = "";
  EXPECT_NE(xferlog_line(r, false).find(" o a  ftp 0 * c\n"), std::string::npos);
}

TEST(XferlogStd, LocalTimeFollowsTz) {
  ScopedTz tz("XYZ+5");  // five hours behind UTC
  EXPECT_EQ(xferlog_line(download(), true).rfind("Sat Nov 21 14:52:08 2026 ", 0), 0u);
  EXPECT_EQ(xferlog_line(download(), false).rfind("Sat Nov 21 19:52:08 2026 ", 0), 0u);
  TransferRecord r = download();
  r.end_time = kTue;  // 04:05 UTC is still the previous day five hours west
  EXPECT_EQ(xferlog_line(r, true).rfind("Mon Mar  4 23:05:06 2024 ", 0), 0u);
}

// ---- vsftpd format -------------------------------------------------------------

TEST(XferlogVsftpd, DownloadExactly) {
  TransferRecord r = download();
  r.path = "/f";
  r.seconds = 0.1;
  EXPECT_EQ(vsftpd_transfer_line(r, 42, "ftp", false),
            "Sat Nov 21 19:52:08 2026 [pid 42] [ftp] OK DOWNLOAD: Client \"127.0.0.1\", \"/f\", "
            "1024 bytes, 10.00Kbyte/sec\n");
}

TEST(XferlogVsftpd, FailedUploadWithRate) {
  TransferRecord r = download();
  r.upload = true;
  r.complete = false;
  r.bytes = 1536;
  r.seconds = 1;
  r.path = "/up/a b";
  EXPECT_EQ(
      vsftpd_transfer_line(r, 7, "bob", false),
      "Sat Nov 21 19:52:08 2026 [pid 7] [bob] FAIL UPLOAD: Client \"127.0.0.1\", \"/up/a b\", "
      "1536 bytes, 1.50Kbyte/sec\n");
}

// syslog(3) adds its own date: the same line from "[pid" on, with no newline.
TEST(XferlogVsftpd, SyslogTextIsTheLineWithoutItsDate) {
  TransferRecord r = download();
  r.path = "/f";
  r.seconds = 0.1;
  EXPECT_EQ(vsftpd_syslog_text(42, "ftp", vsftpd_transfer_event(r)),
            "[pid 42] [ftp] OK DOWNLOAD: Client \"127.0.0.1\", \"/f\", 1024 bytes, 10.00Kbyte/sec");
  EXPECT_EQ(vsftpd_syslog_text(9, "", "CONNECT: Client \"::1\""),
            "[pid 9] CONNECT: Client \"::1\"");
  EXPECT_EQ(vsftpd_syslog_text(1, "a]b", "X\nY"), "[pid 1] [a?b] X?Y");
}

TEST(XferlogVsftpd, ZeroBytesAndZeroTime) {
  TransferRecord r = download();
  r.bytes = 0;
  r.seconds = 0;
  EXPECT_EQ(vsftpd_transfer_line(r, 1, "ftp", false),
            "Sat Nov 21 19:52:08 2026 [pid 1] [ftp] OK DOWNLOAD: Client \"127.0.0.1\", \"/pub/f\", "
            "0.00Kbyte/sec\n");
  r.bytes = 2048;  // no elapsed time: vsftpd divides by 0.1 s
  EXPECT_NE(vsftpd_transfer_line(r, 1, "ftp", false).find(", 2048 bytes, 20.00Kbyte/sec\n"),
            std::string::npos);
}

TEST(XferlogVsftpd, NoUserNoBrackets) {
  EXPECT_EQ(vsftpd_log_line(kSat, 9, "", "CONNECT: Client \"::1\"", false),
            "Sat Nov 21 19:52:08 2026 [pid 9] CONNECT: Client \"::1\"\n");
}

TEST(XferlogVsftpd, GenericEvent) {
  EXPECT_EQ(
      vsftpd_log_line(kTue, 1234, "alice", "FTP command: Client \"1.2.3.4\", \"LIST\"", false),
      "Tue Mar  5 04:05:06 2024 [pid 1234] [alice] FTP command: Client \"1.2.3.4\", "
      "\"LIST\"\n");
}

TEST(XferlogVsftpd, ControlCharactersAreReplaced) {
  const std::string line =
      vsftpd_log_line(kSat, 1, "bob\n[pid 1] [root]", "FTP command: \"RETR a\r\nDELE b\"", false);
  EXPECT_EQ(line,
            "Sat Nov 21 19:52:08 2026 [pid 1] [bob?[pid 1? [root?] FTP command: \"RETR a??DELE "
            "b\"\n");
  TransferRecord r = download();
  r.remote_host = "1.2.3.4\n";
  r.path = "/a\tb";
  const std::string t = vsftpd_transfer_line(r, 1, "u\x7f\x01", false);
  EXPECT_EQ(t.find('\n'), t.size() - 1);
  EXPECT_NE(t.find("[u??] OK DOWNLOAD: Client \"1.2.3.4?\", \"/a?b\""), std::string::npos) << t;
}

// Issue 11: a user name or a path written as a log line must stay inside its field.
TEST(XferlogVsftpd, FieldsCannotCloseTheirBracketsOrQuotes) {
  EXPECT_EQ(log_field("x] FAIL LOGIN: Client \"203.0.113.7\","), "x? FAIL LOGIN: Client ?203.0.113.7?,");
  EXPECT_EQ(vsftpd_log_line(kSat, 1, "x] FAIL LOGIN: Client \"203.0.113.7\",",
                            "FAIL LOGIN: Client \"127.0.0.1\"", false),
            "Sat Nov 21 19:52:08 2026 [pid 1] [x? FAIL LOGIN: Client ?203.0.113.7?,] FAIL LOGIN: "
            "Client \"127.0.0.1\"\n");
  TransferRecord r = download();
  r.path = "/a\", 9 bytes, 1.00Kbyte/sec\n";
  EXPECT_NE(vsftpd_transfer_line(r, 1, "u", false).find("\"/a?, 9 bytes, 1.00Kbyte/sec?\""),
            std::string::npos);
  EXPECT_EQ(log_field("/pub/Grüße [1].txt"), "/pub/Grüße [1?.txt");
}

TEST(XferlogVsftpd, LocalTime) {
  ScopedTz tz("ABC-2");  // two hours ahead of UTC
  EXPECT_EQ(vsftpd_log_line(kSat, 1, "u", "X", true), "Sat Nov 21 21:52:08 2026 [pid 1] [u] X\n");
  EXPECT_EQ(vsftpd_log_line(kSat, 1, "u", "X", false), "Sat Nov 21 19:52:08 2026 [pid 1] [u] X\n");
}

}  // namespace
}  // namespace moat
