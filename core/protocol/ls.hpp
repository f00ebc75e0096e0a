// SPDX-License-Identifier: GPL-2.0-or-later
// Directory listings: LIST (ls -l), NLST (names) and MLSD/MLST (RFC 3659 facts).
#pragma once

#include <sys/stat.h>

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/common/userdb.hpp"
#include "core/common/util.hpp"

namespace moat {

struct ListFormat {
  bool hide_ids = false;      // owner and group shown as "ftp"
  bool use_localtime = false;
  time_t now = 0;             // "recent" (within 6 months) shows HH:MM, else the year
  const UserDb* names = nullptr;  // text_userdb_names: owner and group by name where known
};

// One "ls -l" line with CRLF, e.g.
// "-rw-r--r--    1 1000     1000         1024 Nov 21 19:52 name\r\n"
// Symlinks show "name -> target". uid/gid are numeric unless hide_ids or names.
std::string ls_long_line(const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt);

// The same, appended to `out` (a listing formats thousands).
void append_ls_long_line(std::string& out, const struct stat& st, std::string_view name,
                         std::string_view link_target, const ListFormat& fmt);

// "type=file;size=1024;modify=20261121195200;perm=adfrw;unix.mode=0644;unix.uid=1000;
//  unix.gid=1000; name\r\n". `type` overrides the type fact ("cdir", "pdir");
// perm derives from st and the caller's uid/gid/groups via access(2)-like rules
// (`writable` tells whether writes are enabled at all). hide_ids drops unix.uid/gid.
struct MlsxFormat {
  bool hide_ids = false;
  bool write_enable = false;
  uid_t uid = 0;
};
std::string mlsx_line(const struct stat& st, std::string_view name, std::string_view type,
                      const MlsxFormat& fmt);
void append_mlsx_line(std::string& out, const struct stat& st, std::string_view name,
                      std::string_view type, const MlsxFormat& fmt);

// LIST/NLST arguments: leading "-" option words (a, l, R, d; others ignored as ls
// does) and an optional path or glob pattern (*, ?, [..]) in the last component.
struct ListArgs {
  bool all = false;        // -a
  bool recursive = false;  // -R
  bool directory = false;  // -d
  std::string path;        // may be empty (current directory)
};
ListArgs parse_list_args(std::string_view arg);

enum class ListKind { kLong, kNames, kMlsd };

struct ListRequest {
  ListKind kind = ListKind::kLong;
  ListArgs args;
  ListFormat fmt;
  MlsxFormat mlsx;
  bool force_dot_files = false;
  bool recurse_enable = false;  // ls_recurse_enable: honour -R
  // hide_file: directory entries for which this is true are left out (a path the
  // client names itself is still listed). Empty: nothing hidden.
  std::function<bool(std::string_view name)> hidden;
};

// The listing of req.args.path (relative to the process cwd) as the data-connection
// payload, produced a chunk at a time as the data socket drains. A path that names a
// file lists that file. Entries are sorted by name; "." and ".." omitted except MLSD's
// cdir. open() checks the path and opens the directory, so that a bad path is refused
// before any data moves. The first chunk reads the directory whole, stat'ing each
// entry as its name arrives (the kernel's caches are warm then) and keeping what its
// line shows; lines are formatted a chunk at a time, and -R reads a subdirectory only
// when the listing reaches it.
class ListStream {
 public:
  // Errors when the path does not exist or cannot be read.
  static Result<std::unique_ptr<ListStream>> open(ListRequest req);
  ~ListStream();
  ListStream(const ListStream&) = delete;
  ListStream& operator=(const ListStream&) = delete;
  // Appends lines to `out` until it has grown by at least `want` bytes or the
  // listing ends. Returns whether more is to come.
  bool fill(std::string& out, size_t want);

 private:
  class Lister;
  explicit ListStream(std::unique_ptr<Lister> l);
  std::unique_ptr<Lister> lister_;
};

// The whole listing at once (STAT, MLST-like callers, tests).
Result<std::string> list_build(const ListRequest& req);

// YYYYMMDDHHMMSS in UTC, as MDTM and the modify fact use.
std::string time_mdtm(time_t t);
// Parses YYYYMMDDHHMMSS[.sss] (UTC); error otherwise.
Result<time_t> parse_mdtm(std::string_view s);

}  // namespace moat
