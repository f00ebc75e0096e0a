// SPDX-License-Identifier: GPL-2.0-or-later
// The listing line formats written the plain way (snprintf, gmtime_r, strftime), as
// a reference for the fast formatter in core/protocol/ls.cpp: the unit tests and
// fuzz_ls_line compare the two on many inputs.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "core/protocol/ls.hpp"

namespace moat::reference {

inline std::string mode_letters(mode_t m) {
  static constexpr std::string_view kTypes = "?pc?d?b?-?l?s???";  // by S_IFMT >> 12
  std::string s(1, kTypes[(m & S_IFMT) >> 12]);
  if ((m & S_IFMT) == 0) s[0] = '?';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (m & (0400 >> i)) ? rwx[i] : '-';
  auto special = [&](size_t at, mode_t bit, char c) {
    if (m & bit) s[at] = s[at] == 'x' ? c : static_cast<char>(c - 'a' + 'A');
  };
  special(3, S_ISUID, 's');
  special(6, S_ISGID, 's');
  special(9, S_ISVTX, 't');
  return s;
}

inline std::string id_field(unsigned id, bool hide, const std::string* name) {
  char buf[64];
  if (hide) return "ftp     ";
  if (name) return *name + std::string(name->size() < 8 ? 8 - name->size() : 0, ' ');
  std::snprintf(buf, sizeof buf, "%-8u", id);
  return buf;
}

inline std::string ls_date(time_t t, const ListFormat& fmt) {
  struct tm tm {};
  bool ok = fmt.use_localtime ? localtime_r(&t, &tm) != nullptr : gmtime_r(&t, &tm) != nullptr;
  if (!ok) return "Jan 01  1970";
  char buf[64];
  time_t now = fmt.now ? fmt.now : time(nullptr);
  bool recent = t > now - 15778476 && t <= now + 3600;
  if (recent) {
    std::strftime(buf, sizeof buf, "%b %d %H:%M", &tm);
  } else {
    char day[16];
    std::strftime(day, sizeof day, "%b %d", &tm);
    std::snprintf(buf, sizeof buf, "%s  %lld", day, tm.tm_year + 1900LL);
  }
  return buf;
}

inline std::string ls_line(const struct stat& st, std::string_view name, std::string_view link,
                           const ListFormat& fmt) {
  char num[64];
  std::string s = mode_letters(st.st_mode);
  std::snprintf(num, sizeof num, " %4llu ", static_cast<unsigned long long>(st.st_nlink));
  s += num;
  s += id_field(st.st_uid, fmt.hide_ids, fmt.names ? fmt.names->user_name(st.st_uid) : nullptr);
  s += ' ';
  s += id_field(st.st_gid, fmt.hide_ids, fmt.names ? fmt.names->group_name(st.st_gid) : nullptr);
  std::snprintf(num, sizeof num, " %8llu ", static_cast<unsigned long long>(st.st_size));
  s += num;
  s += ls_date(st.st_mtime, fmt);
  s.append(" ").append(name);
  if (S_ISLNK(st.st_mode) && !link.empty()) s.append(" -> ").append(link);
  return s + "\r\n";
}

inline std::string mdtm(time_t t) {
  struct tm tm {};
  if (!gmtime_r(&t, &tm)) return t < 0 ? "00000101000000" : "99991231235959";
  long long year = tm.tm_year + 1900LL;
  if (year < 0) return "00000101000000";
  if (year > 9999) return "99991231235959";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02d%02d%02d%02d%02d", year, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

inline std::string mlsx_type(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFDIR: return "dir";
    case S_IFREG: return "file";
    case S_IFLNK: return "OS.unix=symlink";
    case S_IFCHR: return "OS.unix=chr";
    case S_IFBLK: return "OS.unix=blk";
    case S_IFIFO: return "OS.unix=fifo";
    default: return "OS.unix=socket";
  }
}

inline std::string perm_fact(const struct stat& st, const MlsxFormat& fmt) {
  bool owner = st.st_uid == fmt.uid;
  bool r = st.st_mode & (owner ? S_IRUSR : S_IROTH);
  bool w = fmt.write_enable && (st.st_mode & (owner ? S_IWUSR : S_IWOTH));
  bool x = st.st_mode & (owner ? S_IXUSR : S_IXOTH);
  std::string p;
  if (S_ISDIR(st.st_mode)) {
    if (w) p += "cd";
    if (x) p += "e";
    if (w) p += "f";
    if (r) p += "l";
    if (w) p += "mp";
  } else {
    if (w) p += "adf";
    if (r) p += "r";
    if (w) p += "w";
  }
  return p;
}

inline std::string mlsx_line(const struct stat& st, std::string_view name, std::string_view type,
                             const MlsxFormat& fmt) {
  char buf[128];
  std::string s = "type=" + (type.empty() ? mlsx_type(st.st_mode) : std::string(type)) + ";";
  if (S_ISREG(st.st_mode)) {
    std::snprintf(buf, sizeof buf, "size=%llu;", static_cast<unsigned long long>(st.st_size));
    s += buf;
  }
  s += "modify=" + mdtm(st.st_mtime) + ";";
  if (!S_ISLNK(st.st_mode)) s += "perm=" + perm_fact(st, fmt) + ";";
  std::snprintf(buf, sizeof buf, "unix.mode=0%03o;", static_cast<unsigned>(st.st_mode & 07777));
  s += buf;
  if (!fmt.hide_ids) {
    std::snprintf(buf, sizeof buf, "unix.uid=%u;unix.gid=%u;", static_cast<unsigned>(st.st_uid),
                  static_cast<unsigned>(st.st_gid));
    s += buf;
  }
  return s.append(" ").append(name).append("\r\n");
}

}  // namespace moat::reference
