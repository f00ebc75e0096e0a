// SPDX-License-Identifier: GPL-2.0-or-later
// Transfer and session logging in vsftpd's formats, on descriptors the master opened.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace moat {

struct TransferRecord {
  time_t end_time = 0;
  double seconds = 0;         // transfer duration
  std::string remote_host;    // client address text
  unsigned long long bytes = 0;
  std::string path;           // absolute path as the server sees it
  bool ascii = false;
  bool upload = false;        // 'i' incoming, else 'o'
  bool anonymous = false;
  bool guest = false;         // access mode 'g' (vsftpd's guest_enable)
  std::string user;           // local user name, or anonymous password/ident
  bool complete = true;
};

// A field taken from the client (user name, path, anonymous password, command line)
// for a vsftpd-format line: control characters, DEL, '"' and ']' become '?', so that
// it can neither end the line nor close the quotes or brackets around it: a name like
// `x] FAIL LOGIN: Client "203.0.113.7",` cannot pass for another line's fields.
std::string log_field(std::string_view text);

// wu-ftpd xferlog line (xferlog_std_format=YES), with trailing "\n":
// "Sat Nov 21 19:52:08 2026 1 127.0.0.1 1024 /pub/f b _ o a user@ ftp 0 * c\n"
std::string xferlog_line(const TransferRecord& r, bool use_localtime);

// The event part of vsftpd's transfer line: "OK DOWNLOAD: Client "127.0.0.1", "/f", 1024 bytes, 10.00Kbyte/sec".
std::string vsftpd_transfer_event(const TransferRecord& r);

// vsftpd-format line, e.g.
// "Sat Nov 21 19:52:08 2026 [pid 42] [ftp] OK DOWNLOAD: Client "127.0.0.1", "/f", 1024 bytes, 10.00Kbyte/sec\n"
std::string vsftpd_transfer_line(const TransferRecord& r, int pid, std::string_view session_user,
                                 bool use_localtime);
// "Sat Nov 21 19:52:08 2026 [pid 42] [user] FTP command: Client "127.0.0.1", "LIST"\n" etc.
std::string vsftpd_log_line(time_t t, int pid, std::string_view session_user,
                            std::string_view event, bool use_localtime);
// The same for syslog, which adds its own date: "[pid 42] [user] FTP command: ...".
std::string vsftpd_syslog_text(int pid, std::string_view session_user, std::string_view event);

}  // namespace moat
