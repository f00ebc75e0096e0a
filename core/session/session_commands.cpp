// SPDX-License-Identifier: GPL-2.0-or-later
// The FTP command table and one handler per command (RFC 959, 2389, 2428, 3659).
// Paths go straight to the kernel relative to the worker's cwd: the chroot and the
// user's own uid are the access control, as in vsftpd.
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/common/filter.hpp"
#include "core/protocol/ls.hpp"
#include "core/session/session.hpp"
#include "privsep/ipc.hpp"

namespace moat {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}


Result<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return fail("not a number");
  return v;
}

std::string cwd() {
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

// Every command that names a path asks this first. A CR inside a name is refused:
// listings never show such names (they would forge lines), so nobody should make
// one. deny_file: any use of a matching name is 550, as vsftpd.
bool refuse_path(Session& s, const std::string& path) {
  if (path.find('\r') != std::string::npos) {
    s.reply(501, "Invalid character in file name.");
    return true;
  }
  if (s.ctx.deny_file.empty() || !filter_match_path(s.ctx.deny_file, path, s.absolute_path(path)))
    return false;
  s.deny("deny_file");
  return true;
}

// download_file/upload_file: when set, only matching names may be transferred that
// way (deny_file, checked first, still wins), as vsftpd.
bool refuse_unlisted(Session& s, const FilterPattern& allowed, const std::string& path) {
  if (allowed.empty() || filter_match_path(allowed, path, s.absolute_path(path))) return false;
  s.deny(&allowed == &s.ctx.download_file ? "download_file" : "upload_file");
  return true;
}

// A file-system change that failed: 550, then the FAIL line, in vsftpd's order (a
// change that worked is logged before its reply).
void change_failed(Session& s, LogKind kind, const std::string& path, const char* text,
                   std::string detail = {}) {
  s.reply(550, text);
  s.log_change(kind, path, false, std::move(detail));
}

// hide_file for listings: matching entries are left out (still usable by name).
std::function<bool(std::string_view)> hide_predicate(const Session& s) {
  if (s.ctx.hide_file.empty()) return {};
  const FilterPattern* p = &s.ctx.hide_file;
  return [p](std::string_view name) { return filter_match_name(*p, name); };
}

// ---- access and session ----------------------------------------------------

void cmd_user(Session& s, const std::string& arg) {
  if (s.st.logged_in) return s.reply(530, "Can't change to another user.");
  s.user_given = false;
  bool anon = is_anonymous_name(arg) && s.cfg.anonymous_enable;
  if (!anon && !s.cfg.local_enable) return s.reply(530, "This FTP server is anonymous only.");
  // userlist_enable applies to anonymous names too, as in vsftpd (the helper checks
  // again): in allow mode "anonymous" must be listed to log in.
  bool listed = s.ctx.userlist.count(arg) > 0;
  if (s.cfg.userlist_enable && listed == s.cfg.userlist_deny) {
    // Logged only with userlist_log=YES, as Red Hat's vsftpd (upstream 3.0.3 never logs it).
    if (!s.cfg.userlist_log) return s.reply(530, "Permission denied.");
    return s.refuse_login(arg, s.cfg.userlist_deny ? "User is in the deny user list."
                                                   : "User is not in the allow user list.",
                          "Permission denied.");
  }
  if (std::string why = s.tls_login_refusal(anon); !why.empty())
    return s.refuse_login(arg, why, why);
  s.pending_user = arg;
  s.user_given = true;
  if (anon && s.cfg.no_anon_password) return s.try_login(arg, "");
  s.reply(331, "Please specify the password.");
}

void cmd_pass(Session& s, const std::string& arg) {
  if (s.st.logged_in) return s.reply(230, "Already logged in.");
  if (!s.user_given) return s.reply(503, "Login with USER first.");
  s.try_login(s.pending_user, arg);
}

void cmd_quit(Session& s, const std::string&) { s.end_session(221, "Goodbye."); }

void cmd_rein(Session& s, const std::string&) {
  if (!s.st.logged_in) {
    s.user_given = false;
    return s.reply(220, "Service ready for new user.");
  }
  s.reinitialize();
}

void cmd_noop(Session& s, const std::string&) { s.reply(200, "NOOP ok."); }
void cmd_syst(Session& s, const std::string&) { s.reply(215, "UNIX Type: L8"); }
void cmd_allo(Session& s, const std::string&) { s.reply(202, "ALLO command ignored."); }
void cmd_help(Session& s, const std::string&) { s.reply_raw(help_text()); }

// FTPS verbs exist only with ssl_enable=YES; otherwise they are unknown verbs.
template <void (Session::*Fn)(const std::string&)>
void tls_verb(Session& s, const std::string& arg) {
  if (s.tls_enabled()) return (s.*Fn)(arg);
  if (!s.st.logged_in) return s.reply(530, "Please login with USER and PASS.");
  s.reply(502, "Command not implemented.");
}

void cmd_feat(Session& s, const std::string&) {
  std::string facts = s.cfg.hide_ids ? "type*;size*;modify*;perm*;unix.mode*;"
                                     : "type*;size*;modify*;perm*;unix.mode*;unix.uid*;unix.gid*;";
  std::string tls = s.tls_enabled() ? " AUTH TLS\r\n AUTH SSL\r\n" : "";
  std::string prot = s.tls_enabled() ? " PBSZ\r\n PROT\r\n" : "";
  s.reply_raw("211-Features:\r\n" + tls + " EPRT\r\n EPSV\r\n MDTM\r\n MFMT\r\n MLST " + facts +
              "\r\n PASV\r\n" + prot + " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n");
}

void cmd_opts(Session& s, const std::string& arg) {
  std::string a = upper(arg);
  if (a == "UTF8 ON" || a == "UTF-8 ON") return s.reply(200, "Always in UTF8 mode.");
  if (a.rfind("MLST", 0) == 0) return s.reply(200, "MLST OPTS type;size;modify;perm;unix.mode;");
  s.reply(501, "Option not understood.");
}

void cmd_stat(Session& s, const std::string& arg) {
  if (arg.empty() || s.transferring()) {
    std::string r = "211-FTP server status:\r\n     Connected to " + sockaddr_host_text(s.st.peer) +
                    "\r\n     Logged in as " + s.st.user + "\r\n     TYPE: " +
                    (s.ascii ? "ASCII" : "BINARY") + "\r\n     Session timeout in seconds is " +
                    std::to_string(s.cfg.idle_session_timeout) +
                    "\r\n     Control connection is plain text\r\n" +
                    (s.transferring() ? "     A data transfer is in progress\r\n" : "") +
                    "211 End of status\r\n";
    return s.reply_raw(r);
  }
  ListRequest req;
  req.args = parse_list_args(arg);
  if (!req.args.path.empty() && refuse_path(s, req.args.path)) return;
  req.fmt = {s.cfg.hide_ids, s.cfg.use_localtime, time(nullptr), s.st.userdb.get()};
  req.force_dot_files = s.cfg.force_dot_files;
  req.hidden = hide_predicate(s);
  auto out = list_build(req);
  if (!out) return s.reply(550, "Failed to open directory.");
  s.reply_raw("213-Status follows:\r\n" + *out + "213 End of status\r\n");
}

// ---- representation -------------------------------------------------------------

void cmd_type(Session& s, const std::string& arg) {
  std::string a = upper(arg);
  if (a == "I" || a == "L 8" || a == "L8") {
    s.ascii = false;
    return s.reply(200, "Switching to Binary mode.");
  }
  if (a == "A" || a == "A N") {
    s.ascii = true;
    return s.reply(200, "Switching to ASCII mode.");
  }
  s.reply(504, "Bad TYPE command.");
}

void cmd_mode(Session& s, const std::string& arg) {
  if (upper(arg) == "S") return s.reply(200, "Mode set to S.");
  s.reply(504, "Bad MODE command.");
}

void cmd_stru(Session& s, const std::string& arg) {
  if (upper(arg) == "F") return s.reply(200, "Structure set to F.");
  s.reply(504, "Bad STRU command.");
}

// ---- directories ----------------------------------------------------------------

void show_dir_message(Session& s) {
  if (!s.cfg.dirmessage_enable) return;
  std::ifstream in(s.cfg.message_file);
  if (!in) return;
  std::string line, out;
  for (int n = 0; n < 100 && std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out += "250-" + line + "\r\n";
  }
  s.reply_raw(out);
}

void change_dir(Session& s, const std::string& path) {
  if (chdir(path.c_str()) != 0) return s.reply(550, "Failed to change directory.");
  show_dir_message(s);
  s.reply(250, "Directory successfully changed.");
}

void cmd_cwd(Session& s, const std::string& arg) {
  if (!refuse_path(s, arg)) change_dir(s, arg);
}
void cmd_cdup(Session& s, const std::string&) { change_dir(s, ".."); }

void cmd_pwd(Session& s, const std::string&) {
  s.reply(257, "\"" + quote_257(cwd()) + "\" is the current directory");
}

void cmd_mkd(Session& s, const std::string& arg) {
  if (refuse_path(s, arg)) return;
  if (mkdir(arg.c_str(), 0777) != 0)
    return change_failed(s, LogKind::kMkdir, arg, "Create directory operation failed.");
  s.log_change(LogKind::kMkdir, arg, true);
  s.reply(257, "\"" + quote_257(s.absolute_path(arg)) + "\" created");
}

void cmd_rmd(Session& s, const std::string& arg) {
  if (refuse_path(s, arg)) return;
  if (rmdir(arg.c_str()) != 0)
    return change_failed(s, LogKind::kRmdir, arg, "Remove directory operation failed.");
  s.log_change(LogKind::kRmdir, arg, true);
  s.reply(250, "Remove directory operation successful.");
}

// ---- files ------------------------------------------------------------------------

void cmd_dele(Session& s, const std::string& arg) {
  if (refuse_path(s, arg)) return;
  struct stat st {};
  if (lstat(arg.c_str(), &st) != 0 || S_ISDIR(st.st_mode) || unlink(arg.c_str()) != 0)
    return change_failed(s, LogKind::kDelete, arg, "Delete operation failed.");
  s.log_change(LogKind::kDelete, arg, true);
  s.reply(250, "Delete operation successful.");
}

void cmd_rnfr(Session& s, const std::string& arg) {
  if (refuse_path(s, arg)) return;
  struct stat st {};
  // vsftpd logs a failed RNFR as a failed RENAME of the one path.
  if (lstat(arg.c_str(), &st) != 0)
    return change_failed(s, LogKind::kRename, arg, "RNFR command failed.");
  s.rnfr = arg;
  s.reply(350, "Ready for RNTO.");
}

void cmd_rnto(Session& s, const std::string& arg) {
  if (s.rnfr.empty()) return s.reply(503, "RNFR required first.");
  std::string from = std::move(s.rnfr);
  s.rnfr.clear();
  if (refuse_path(s, arg)) return;
  if (rename(from.c_str(), arg.c_str()) != 0)
    return change_failed(s, LogKind::kRename, from, "Rename failed.", s.absolute_path(arg));
  s.log_change(LogKind::kRename, from, true, s.absolute_path(arg));
  s.reply(250, "Rename successful.");
}

void cmd_size(Session& s, const std::string& arg) {
  if (refuse_path(s, arg)) return;
  struct stat st {};
  if (stat(arg.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return s.reply(550, "Could not get file size.");
  s.reply(213, std::to_string(st.st_size));
}

Status set_mtime(const std::string& path, time_t t) {
  timespec times[2] = {{0, UTIME_OMIT}, {t, 0}};
  if (utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) return fail(errno_text(errno));
  return Ok{};
}

// vsftpd's "MDTM YYYYMMDDHHMMSS file" (with mdtm_write): a write; "MDTM file" is not.
bool mdtm_sets_time(const Session& s, const std::string& arg) {
  return arg.find(' ') == 14 && s.cfg.mdtm_write && parse_mdtm(arg.substr(0, 14));
}

void cmd_mdtm(Session& s, const std::string& arg) {
  if (mdtm_sets_time(s, arg)) {
    if (refuse_path(s, arg.substr(15))) return;
    if (!set_mtime(arg.substr(15), *parse_mdtm(arg.substr(0, 14))))
      return s.reply(550, "Could not set file modification time.");
    return s.reply(213, "File modification time set.");
  }
  if (refuse_path(s, arg)) return;
  struct stat st {};
  if (stat(arg.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return s.reply(550, "Could not get file modification time.");
  s.reply(213, time_mdtm(st.st_mtime));
}

void cmd_mfmt(Session& s, const std::string& arg) {
  auto space = arg.find(' ');
  auto t = parse_mdtm(arg.substr(0, space));
  if (space == std::string::npos || !t || space + 1 >= arg.size())
    return s.reply(501, "Syntax error in parameters or arguments.");
  std::string path = arg.substr(space + 1);
  if (!s.cfg.mdtm_write) return s.deny("mdtm_write=NO");
  if (refuse_path(s, path)) return;
  if (!set_mtime(path, *t)) return s.reply(550, "Could not set file modification time.");
  s.reply(213, "Modify=" + time_mdtm(*t) + "; " + path);
}

void cmd_rest(Session& s, const std::string& arg) {
  auto v = parse_u64(arg);
  if (!v) return s.reply(501, "REST requires a value greater than or equal to 0.");
  s.rest = *v;
  s.reply(350, "Restart position accepted (" + std::to_string(*v) + ").");
}

// The size is read under the read lock: a locked writer may still be changing it.
bool position_download(Session& s, TransferSpec& spec, const std::string& arg, uint64_t offset) {
  struct stat st {};
  if (fstat(spec.file.get(), &st) != 0) {
    s.reply(550, "Failed to open file.");
    return false;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) offset = size;
  if (offset > 0 && lseek(spec.file.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    s.reply(550, "Failed to open file.");
    return false;
  }
  spec.length = size - offset;
  spec.opening = std::string("Opening ") + (s.ascii ? "ASCII" : "BINARY") +
                 " mode data connection for " + arg + " (" + std::to_string(size) + " bytes).";
  return true;
}

void cmd_retr(Session& s, const std::string& arg) {
  uint64_t offset = std::exchange(s.rest, 0);
  if (!s.cfg.download_enable) return s.deny("download_enable=NO");
  if (refuse_path(s, arg) || refuse_unlisted(s, s.ctx.download_file, arg)) return;
  if (!s.data_setup()) return s.reply(425, "Use PORT or PASV first.");
  UniqueFd fd(open(arg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return s.reply(550, "Failed to open file.");
  // anon_world_readable_only: the ftp user may own files (uploads) others may not read.
  if (s.st.anonymous && s.cfg.anon_world_readable_only && !(st.st_mode & S_IROTH))
    return s.deny("anon_world_readable_only");
  fcntl(fd.get(), F_SETFL, 0);
  TransferSpec spec;
  spec.kind = TransferSpec::kSendFile;
  spec.file = std::move(fd);
  spec.ascii = s.ascii && s.cfg.ascii_download_enable;
  spec.log_path = s.absolute_path(arg);
  auto lock = s.cfg.lock_upload_files ? std::optional(FileLock::kRead) : std::nullopt;
  s.transfer_when_locked(std::move(spec), lock, [&s, arg, offset](TransferSpec& sp) {
    return position_download(s, sp, arg, offset);
  });
}

enum class StoreKind { kStor, kAppe, kStou };

// `exclusive`: only a new file (STOU, and anonymous uploads without
// anon_other_write_enable, which may neither overwrite nor append, as vsftpd).
// Nothing is truncated here: that waits for the file's lock (position_upload).
Result<UniqueFd> open_upload(const std::string& path, StoreKind kind, unsigned mode,
                             bool exclusive) {
  int flags = O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (kind == StoreKind::kAppe) flags |= O_APPEND;
  if (kind == StoreKind::kStou || exclusive) flags |= O_EXCL;
  UniqueFd fd(open(path.c_str(), flags, mode));
  struct stat st {};
  if (!fd) return fail(errno_text(errno));
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return fail("not a regular file");
  fcntl(fd.get(), F_SETFL, kind == StoreKind::kAppe ? O_APPEND : 0);
  return fd;
}

// STOR in place (REST n, or atomic_uploads=NO) keeps the first n bytes, under the lock.
bool position_upload(Session& s, TransferSpec& spec, StoreKind kind, uint64_t offset) {
  if (kind != StoreKind::kStor || spec.temp.active()) return true;
  if (ftruncate(spec.file.get(), static_cast<off_t>(offset)) == 0 &&
      lseek(spec.file.get(), static_cast<off_t>(offset), SEEK_SET) >= 0)
    return true;
  s.reply(553, "Could not create file.");
  return false;
}

// atomic_uploads: a whole-file STOR (no REST) of a new name or over a regular file.
// Symbolic links, devices and the rest are written in place, as without the option.
bool wants_atomic(const Session& s, const std::string& path, StoreKind kind, uint64_t offset,
                  bool exclusive) {
  if (!s.cfg.atomic_uploads || kind != StoreKind::kStor || offset != 0 || exclusive) return false;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  return S_ISREG(st.st_mode);
}

// The temporary file beside the target; when the directory is not writable (a
// writable file in a read-only directory) the upload goes in place, as vsftpd's would.
Result<UniqueFd> open_atomic_upload(Session& s, const std::string& path, TempUpload& temp) {
  auto made = TempUpload::create(path, s.cfg.file_open_mode);
  if (!made && (errno == EACCES || errno == EPERM))
    return open_upload(path, StoreKind::kStor, s.cfg.file_open_mode, false);
  if (!made) return fail(made.error());
  temp = std::move(made->first);
  return std::move(made->second);
}

void store(Session& s, const std::string& arg, StoreKind kind) {
  uint64_t offset = std::exchange(s.rest, 0);
  if (!arg.empty() && refuse_path(s, arg)) return;
  if (refuse_unlisted(s, s.ctx.upload_file, arg.empty() ? "STOU" : arg)) return;
  if (!s.data_setup()) return s.reply(425, "Use PORT or PASV first.");
  std::string name = arg;
  Result<UniqueFd> fd = fail("");
  TempUpload temp;
  if (kind == StoreKind::kStou) {
    std::string base = arg.empty() ? "STOU" : arg;
    for (int i = 0; i < 100 && !fd; ++i) {
      name = i ? base + "." + std::to_string(i) : base;
      if (filter_match_path(s.ctx.deny_file, name, s.absolute_path(name))) continue;
      fd = open_upload(name, kind, s.cfg.file_open_mode, true);
    }
  } else if (bool exclusive = s.st.anonymous && !s.st.anon.other;
             wants_atomic(s, name, kind, offset, exclusive)) {
    fd = open_atomic_upload(s, name, temp);
  } else {
    fd = open_upload(name, kind, s.cfg.file_open_mode, exclusive);
  }
  if (!fd) return s.reply(553, "Could not create file.");
  s.modules_file_created(fd->get(), s.absolute_path(name));
  TransferSpec spec;
  spec.kind = TransferSpec::kRecvFile;
  spec.file = std::move(*fd);
  spec.ascii = s.ascii && s.cfg.ascii_upload_enable;
  spec.opening = kind == StoreKind::kStou ? "FILE: " + name : "Ok to send data.";
  spec.log_path = s.absolute_path(name);
  spec.temp = std::move(temp);
  // An atomic upload writes a file nobody else can know of: nothing to lock.
  bool lock = s.cfg.lock_upload_files && !spec.temp.active();
  s.transfer_when_locked(std::move(spec), lock ? std::optional(FileLock::kWrite) : std::nullopt,
                         [&s, kind, offset](TransferSpec& sp) {
                           return position_upload(s, sp, kind, offset);
                         });
}

void cmd_stor(Session& s, const std::string& arg) { store(s, arg, StoreKind::kStor); }
void cmd_appe(Session& s, const std::string& arg) { store(s, arg, StoreKind::kAppe); }
void cmd_stou(Session& s, const std::string& arg) { store(s, arg, StoreKind::kStou); }

// ---- listings ---------------------------------------------------------------------

void list(Session& s, const std::string& arg, ListKind kind) {
  if (!s.cfg.dirlist_enable) return s.deny("dirlist_enable=NO");
  if (!s.data_setup()) return s.reply(425, "Use PORT or PASV first.");
  ListRequest req;
  req.kind = kind;
  if (kind == ListKind::kMlsd)
    req.args.path = arg;
  else
    req.args = parse_list_args(arg);
  if (!req.args.path.empty() && refuse_path(s, req.args.path)) return;
  req.hidden = hide_predicate(s);
  req.fmt = {s.cfg.hide_ids, s.cfg.use_localtime, time(nullptr), s.st.userdb.get()};
  req.mlsx = {s.cfg.hide_ids, s.st.write_enable, getuid()};
  req.force_dot_files = s.cfg.force_dot_files;
  req.recurse_enable = s.cfg.ls_recurse_enable;
  auto listing = ListStream::open(std::move(req));
  if (!listing) return s.reply(kind == ListKind::kMlsd ? 501 : 550, "Failed to open directory.");
  TransferSpec spec;
  spec.kind = TransferSpec::kSendBuffer;
  spec.listing = std::move(*listing);
  spec.opening = "Here comes the directory listing.";
  spec.complete = "Directory send OK.";
  s.start_transfer(std::move(spec));
}

void cmd_list(Session& s, const std::string& arg) { list(s, arg, ListKind::kLong); }
void cmd_nlst(Session& s, const std::string& arg) { list(s, arg, ListKind::kNames); }
void cmd_mlsd(Session& s, const std::string& arg) { list(s, arg, ListKind::kMlsd); }

void cmd_mlst(Session& s, const std::string& arg) {
  std::string path = arg.empty() ? "." : arg;
  if (!arg.empty() && refuse_path(s, arg)) return;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return s.reply(550, "No such file or directory.");
  MlsxFormat fmt{s.cfg.hide_ids, s.st.write_enable, getuid()};
  std::string shown = arg.empty() ? cwd() : s.absolute_path(arg);
  s.reply_raw("250-Listing " + shown + "\r\n " + mlsx_line(st, shown, "", fmt) + "250 End\r\n");
}

// ---- SITE ---------------------------------------------------------------------------

void site_chmod(Session& s, const std::string& args) {
  if (!s.st.write_enable || !s.cfg.chmod_enable || s.st.anonymous)
    return s.deny("chmod not allowed");
  auto space = args.find(' ');
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(args.data(), args.data() + std::min(space, args.size()), mode, 8);
  if (space == std::string::npos || ec != std::errc() || p != args.data() + space || mode > 07777)
    return s.reply(501, "SITE CHMOD needs 2 arguments.");
  if (refuse_path(s, args.substr(space + 1))) return;
  const std::string path = args.substr(space + 1);
  if (chmod(path.c_str(), mode) != 0)
    return change_failed(s, LogKind::kChmod, path, "SITE CHMOD command failed.",
                         args.substr(0, space));
  s.log_change(LogKind::kChmod, path, true, args.substr(0, space));
  s.reply(200, "SITE CHMOD command ok.");
}

void site_umask(Session& s, const std::string& args) {
  char buf[8];
  if (args.empty()) {
    mode_t m = umask(0);
    umask(m);
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m));
    return s.reply(200, std::string("Your current UMASK is ") + buf);
  }
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(args.data(), args.data() + args.size(), mode, 8);
  if (ec != std::errc() || p != args.data() + args.size() || mode > 0777)
    return s.reply(501, "Bad UMASK value.");
  umask(mode);
  std::snprintf(buf, sizeof buf, "%04o", mode);
  s.reply(200, std::string("UMASK set to ") + buf);
}

void cmd_site(Session& s, const std::string& arg) {
  auto space = arg.find(' ');
  std::string sub = upper(arg.substr(0, space));
  std::string rest = space == std::string::npos ? "" : arg.substr(space + 1);
  if (sub == "CHMOD") return site_chmod(s, rest);
  if (sub == "UMASK") return site_umask(s, rest);
  if (sub == "HELP") return s.reply(214, "CHMOD UMASK HELP");
  s.reply(500, "Unknown SITE command.");
}

// ---- data connections -----------------------------------------------------------

bool refuse_after_epsv_all(Session& s) {
  if (!s.epsv_all) return false;
  s.reply(503, "EPSV ALL in effect: only EPSV is allowed.");
  return true;
}

void cmd_pasv(Session& s, const std::string&) {
  if (!refuse_after_epsv_all(s)) s.cmd_pasv(false, EpsvArg::kAny);
}

void cmd_epsv(Session& s, const std::string& arg) {
  EpsvArg a = parse_epsv_arg(arg);
  if (a == EpsvArg::kSyntax) return s.reply(501, "Bad EPSV argument.");
  if (a == EpsvArg::kUnsupported) return s.reply(522, "Network protocol not supported, use (1,2)");
  if (a == EpsvArg::kAll) {
    s.epsv_all = true;
    return s.reply(200, "EPSV ALL ok.");
  }
  s.cmd_pasv(true, a);
}

void cmd_port(Session& s, const std::string& arg) {
  if (refuse_after_epsv_all(s)) return;
  auto a = parse_port_arg(arg);
  if (!a) return s.reply(501, "Illegal PORT command.");
  s.cmd_port(*a);
}

void cmd_eprt(Session& s, const std::string& arg) {
  if (refuse_after_epsv_all(s)) return;
  EprtArg a = parse_eprt_arg(arg);
  if (a.status == EprtArg::kUnsupportedFamily)
    return s.reply(522, "Network protocol not supported, use (1,2)");
  if (a.status != EprtArg::kOk) return s.reply(501, "Illegal EPRT command.");
  s.cmd_port(a.addr);
}

void cmd_abor(Session& s, const std::string&) {
  if (!s.cancel_lock_wait()) s.abort_transfer();
}

// verb, handler, pre-auth, needs argument, what it writes (N: nothing, U: a new file,
// M: a directory, O: anything else), the e2e tests of its behaviour (tests/e2e/; the
// `commands` check keeps them naming the verb), when it writes only in some forms
constexpr Writes N = Writes::kNothing, U = Writes::kUpload, M = Writes::kMkdir,
                 O = Writes::kOther;
constexpr CommandSpec kCommands[] = {
    {"USER", cmd_user, true, true, N, "test_login.py"},
    {"PASS", cmd_pass, true, false, N, "test_login.py"},
    {"QUIT", cmd_quit, true, false, N, "test_login.py"},
    {"REIN", cmd_rein, true, false, N, "test_login.py"},
    {"NOOP", cmd_noop, true, false, N, "test_protocol.py"},
    {"SYST", cmd_syst, true, false, N, "test_protocol.py"},
    {"FEAT", cmd_feat, true, false, N, "test_protocol.py"},
    {"OPTS", cmd_opts, true, true, N, "test_protocol.py"},
    {"HELP", cmd_help, true, false, N, "test_protocol.py"},
    {"STAT", cmd_stat, false, false, N, "test_protocol.py"},
    {"TYPE", cmd_type, false, true, N, "test_protocol.py"},
    {"MODE", cmd_mode, false, true, N, "test_protocol.py"},
    {"STRU", cmd_stru, false, true, N, "test_protocol.py"},
    {"ALLO", cmd_allo, false, false, N, "test_transfers.py"},
    {"PWD", cmd_pwd, false, false, N, "test_transfers.py"},
    {"XPWD", cmd_pwd, false, false, N, "test_transfers.py"},
    {"CWD", cmd_cwd, false, true, N, "test_transfers.py"},
    {"XCWD", cmd_cwd, false, true, N, "test_transfers.py"},
    {"CDUP", cmd_cdup, false, false, N, "test_transfers.py"},
    {"XCUP", cmd_cdup, false, false, N, "test_transfers.py"},
    {"MKD", cmd_mkd, false, true, M, "test_transfers.py test_anon_upload.py"},
    {"XMKD", cmd_mkd, false, true, M, "test_transfers.py"},
    {"RMD", cmd_rmd, false, true, O, "test_transfers.py test_anon_upload.py"},
    {"XRMD", cmd_rmd, false, true, O, "test_transfers.py"},
    {"DELE", cmd_dele, false, true, O, "test_transfers.py test_anon_upload.py"},
    {"RNFR", cmd_rnfr, false, true, O, "test_transfers.py test_anon_upload.py"},
    {"RNTO", cmd_rnto, false, true, O, "test_transfers.py test_anon_upload.py"},
    {"SIZE", cmd_size, false, true, N, "test_transfers.py"},
    {"MDTM", cmd_mdtm, false, true, O, "test_transfers.py", mdtm_sets_time},
    {"MFMT", cmd_mfmt, false, true, O, "test_transfers.py test_anon_upload.py"},
    {"REST", cmd_rest, false, true, N, "test_transfers.py"},
    {"RETR", cmd_retr, false, true, N, "test_transfers.py"},
    {"STOR", cmd_stor, false, true, U, "test_upload_integrity.py test_anon_upload.py"},
    {"APPE", cmd_appe, false, true, U, "test_upload_integrity.py test_anon_upload.py"},
    {"STOU", cmd_stou, false, false, U, "test_upload_integrity.py test_anon_upload.py"},
    {"LIST", cmd_list, false, false, N, "test_transfers.py test_listing_stream.py"},
    {"NLST", cmd_nlst, false, false, N, "test_transfers.py"},
    {"MLSD", cmd_mlsd, false, false, N, "test_transfers.py"},
    {"MLST", cmd_mlst, false, false, N, "test_transfers.py"},
    {"SITE", cmd_site, false, true, N, "test_transfers.py"},
    {"PASV", cmd_pasv, false, false, N, "test_dataconn.py"},
    {"EPSV", cmd_epsv, false, false, N, "test_dataconn.py"},
    {"PORT", cmd_port, false, true, N, "test_dataconn.py"},
    {"EPRT", cmd_eprt, false, true, N, "test_dataconn.py"},
    {"ABOR", cmd_abor, false, false, N, "test_transfers.py test_upload_integrity.py"},
    {"AUTH", tls_verb<&Session::cmd_auth>, true, true, N, "test_ftps.py"},
    {"PBSZ", tls_verb<&Session::cmd_pbsz>, true, true, N, "test_ftps.py"},
    {"PROT", tls_verb<&Session::cmd_prot>, true, true, N, "test_ftps.py"},
    {"CCC", tls_verb<&Session::cmd_ccc>, true, false, N, "test_ftps.py"},
};

}  // namespace

const char* write_refusal(const Session& s, const CommandSpec& spec, const std::string& arg) {
  if (spec.writes == Writes::kNothing) return nullptr;
  if (spec.writes_when && !spec.writes_when(s, arg)) return nullptr;
  if (!s.st.write_enable) return "write_enable=NO";
  if (!s.st.anonymous) return nullptr;
  bool allowed = false;
  switch (spec.writes) {
    case Writes::kUpload: allowed = s.st.anon.upload; break;
    case Writes::kMkdir: allowed = s.st.anon.mkdir; break;
    default: allowed = s.st.anon.other;
  }
  return allowed ? nullptr : "anonymous write not enabled";
}

const CommandSpec* command_find(std::string_view verb) {
  for (const auto& c : kCommands)
    if (verb == c.verb) return &c;
  return nullptr;
}

std::string help_text() {
  std::string out = "214-The following commands are recognized.\r\n";
  int n = 0;
  for (const auto& c : kCommands) {
    out += (n % 8 == 0 ? " " : "") + std::string(c.verb);
    ++n;
    out += n % 8 == 0 ? "\r\n" : " ";
  }
  if (n % 8 != 0) out += "\r\n";
  return out + "214 Help OK.\r\n";
}

}  // namespace moat
