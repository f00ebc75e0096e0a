// SPDX-License-Identifier: GPL-2.0-or-later
// Formats transfer and session log lines exactly as vsftpd writes them: the wu-ftpd
// xferlog line (xferlog_std_format=YES) and vsftpd's own log format.
#include "core/common/xferlog.hpp"

#include <array>
#include <cstdio>

namespace moat {
namespace {

constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// "%a %b %e %H:%M:%S %Y" spelled out by hand: strftime would follow LC_TIME, and log
// parsers expect the English names whatever locale the server runs in.
std::string log_date(time_t t, bool use_localtime) {
  struct tm tm {};
  const bool ok = use_localtime ? localtime_r(&t, &tm) != nullptr : gmtime_r(&t, &tm) != nullptr;
  if (!ok || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
    return "Thu Jan  1 00:00:00 1970";  // unrepresentable time: still a parseable line
  }
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%s %s %2d %02d:%02d:%02d %d", kDays[tm.tm_wday],
                kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                tm.tm_year + 1900);
  return buf.data();
}

// Control characters from a client (path, user, anonymous password) become '?', so a
// name containing "\n" cannot start a forged log line.
std::string sanitized(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return out;
}

}  // namespace

std::string log_field(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == ']') c = '?';
  }
  return out;
}

namespace {

// One whitespace-separated xferlog field: spaces become '_' as wu-ftpd and vsftpd do
// for file names, so the line still splits into its 18 fields.
std::string xferlog_field(std::string_view text) {
  std::string out = sanitized(text);
  for (char& c : out) {
    if (c == ' ') c = '_';
  }
  return out;
}

// vsftpd logs whole seconds with a floor of 1, so a fast transfer never shows 0.
unsigned long long whole_seconds(double seconds) {
  if (!(seconds >= 1)) return 1;  // also catches NaN
  if (seconds >= 1e18) return 1000000000000000000ULL;
  return static_cast<unsigned long long>(seconds);
}

std::string kbyte_rate(const TransferRecord& r) {
  // vsftpd divides by 0.1 s when the clock shows no elapsed time.
  const double secs = (r.seconds > 0) ? r.seconds : 0.1;
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", static_cast<double>(r.bytes) / secs / 1024.0);
  return buf.data();
}

// "[pid 42] [user] ": what follows the date in the file and is the whole prefix on syslog.
std::string vsftpd_pid_user(int pid, std::string_view session_user) {
  std::string out = "[pid " + std::to_string(pid) + "] ";
  if (!session_user.empty()) out += "[" + log_field(session_user) + "] ";
  return out;
}

std::string vsftpd_prefix(time_t t, int pid, std::string_view session_user, bool use_localtime) {
  return log_date(t, use_localtime) + " " + vsftpd_pid_user(pid, session_user);
}

}  // namespace

std::string xferlog_line(const TransferRecord& r, bool use_localtime) {
  std::string out = log_date(r.end_time, use_localtime);
  out += " " + std::to_string(whole_seconds(r.seconds));
  out += " " + xferlog_field(r.remote_host);
  out += " " + std::to_string(r.bytes);
  out += " " + xferlog_field(r.path);
  out += r.ascii ? " a" : " b";
  out += " _";
  out += r.upload ? " i" : " o";
  out += r.anonymous ? " a " : r.guest ? " g " : " r ";
  out += xferlog_field(r.user);
  out += " ftp 0 * ";
  out += r.complete ? "c\n" : "i\n";
  return out;
}

std::string vsftpd_transfer_event(const TransferRecord& r) {
  std::string out = r.complete ? "OK " : "FAIL ";
  out += r.upload ? "UPLOAD" : "DOWNLOAD";
  out += ": Client \"" + log_field(r.remote_host) + "\"";
  if (!r.path.empty()) out += ", \"" + log_field(r.path) + "\"";
  // Like vsftpd, a transfer that moved nothing shows no byte count.
  if (r.bytes != 0) out += ", " + std::to_string(r.bytes) + " bytes";
  out += ", " + kbyte_rate(r) + "Kbyte/sec";
  return out;
}

std::string vsftpd_transfer_line(const TransferRecord& r, int pid, std::string_view session_user,
                                 bool use_localtime) {
  return vsftpd_prefix(r.end_time, pid, session_user, use_localtime) + vsftpd_transfer_event(r) +
         "\n";
}

std::string vsftpd_log_line(time_t t, int pid, std::string_view session_user,
                            std::string_view event, bool use_localtime) {
  return vsftpd_prefix(t, pid, session_user, use_localtime) + sanitized(event) + "\n";
}

std::string vsftpd_syslog_text(int pid, std::string_view session_user, std::string_view event) {
  return vsftpd_pid_user(pid, session_user) + sanitized(event);
}

}  // namespace moat
