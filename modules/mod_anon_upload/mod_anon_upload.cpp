// SPDX-License-Identifier: GPL-2.0-or-later
// mod_anon_upload: what an anonymous session may write, and chown_uploads, as vsftpd.
// The helper asks it at login which writes the session gets (login_rights) and looks
// chown_username up then, so a missing user fails the login; the worker hands it each
// new upload (file_created), which it sends back to its own priv_handler in the helper
// to be given away. The core does the file operations and checks each right in its
// command table.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <string>

#include "modules/moat_module.h"

namespace {

uint32_t g_write_enable = 0;  // vsftpd: every anonymous write needs it as well
#define MOAT_MODULE_DEF "modules/mod_anon_upload/mod_anon_upload.def"
#define MOAT_MODULE_CORE_OPTIONS \
  {"write_enable", MOAT_OPT_BOOL, nullptr, nullptr, &g_write_enable, MOAT_OPT_CORE},
#include "modules/module_options.inc"

constexpr uint16_t kChownUpload = 1;  // priv_handler: the fd of a new anonymous upload
constexpr unsigned kMaxMode = 0777;

// The helper's: decided at login, for this session's priv_handler.
struct ChownTarget {
  bool on = false;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
};
ChownTarget g_chown;

void say(const moat_ctx* ctx, const std::string& text) { ctx->host->log(ctx, text.c_str()); }

int check(moat_ctx* ctx) {
  if (ctx->host->opt_uint(ctx, opt::chown_upload_mode) <= kMaxMode) return 0;
  ctx->host->check_error(ctx, opt::chown_upload_mode, "a mode must be at most 0777");
  return 1;
}

// chown_username's uid and primary gid, now: vsftpd would fail at the first upload.
bool lookup_owner(const moat_ctx* ctx) {
  const char* name = ctx->host->opt_string(ctx, opt::chown_username);
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 4096> buf{};
  if (getpwnam_r(name, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    say(ctx, "chown_username: unknown user '" + std::string(name) + "'");
    return false;
  }
  g_chown.uid = pw.pw_uid;
  g_chown.gid = pw.pw_gid;
  return true;
}

int login_rights(moat_ctx* ctx, const moat_session*, uint32_t* rights) {
  const moat_host* h = ctx->host;
  const bool upload = h->opt_bool(ctx, opt::anon_upload_enable);
  const bool other = h->opt_bool(ctx, opt::anon_other_write_enable);
  *rights = (upload ? MOAT_WRITE_UPLOAD : 0u) | (other ? MOAT_WRITE_OTHER : 0u) |
            (h->opt_bool(ctx, opt::anon_mkdir_write_enable) ? MOAT_WRITE_MKDIR : 0u);
  // Asked at every login with anonymous rights: a chown left on by an earlier login of
  // this helper (before REIN) must not survive into one without it.
  g_chown.on = h->opt_bool(ctx, g_write_enable) && (upload || other) &&
               h->opt_bool(ctx, opt::chown_uploads);
  g_chown.mode = static_cast<mode_t>(h->opt_uint(ctx, opt::chown_upload_mode) & kMaxMode);
  return !g_chown.on || lookup_owner(ctx) ? 0 : -1;
}

// Helper, as root: the worker may be hostile, so only a regular file the session's
// uid owns, with one link, of an anonymous session that has chown_uploads, is given.
bool chown_allowed(const moat_ctx* ctx, const moat_session* s, uint16_t type, size_t len,
                   int fd) {
  struct stat st {};
  if (type != kChownUpload || len != 0 || fd < 0 || !s->anonymous || !g_chown.on) return false;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (st.st_uid != s->uid || st.st_nlink != 1) {
    say(ctx, "refused to chown a file not made by this session");
    return false;
  }
  return true;
}

int priv_handler(moat_ctx* ctx, const moat_conn*, const moat_session* s, uint16_t type,
                 const void*, size_t len, int fd) {
  if (!chown_allowed(ctx, s, type, len, fd)) return -1;
  if (fchown(fd, g_chown.uid, g_chown.gid) != 0 || fchmod(fd, g_chown.mode) != 0) {
    say(ctx, "chown_uploads: cannot give the upload away");
    return -1;
  }
  return 0;
}

// Worker: a new anonymous upload goes to the helper; a file the session did not make
// (an overwrite with anon_other_write_enable) is left alone, as vsftpd does.
int file_created(moat_ctx* ctx, moat_session* s, int fd, const char*) {
  if (!s->anonymous || !ctx->host->opt_bool(ctx, opt::chown_uploads)) return MOAT_CONTINUE;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_uid != getuid()) return MOAT_CONTINUE;
  return ctx->host->privileged(ctx, kChownUpload, nullptr, 0, fd) == 0 ? MOAT_CONTINUE
                                                                       : MOAT_REFUSE;
}

constexpr moat_module make_module() {
  moat_module m = module_base();
  m.check = check;
  m.login_rights = login_rights;
  m.priv_handler = priv_handler;
  m.file_created = file_created;
  return m;
}

}  // namespace

MOAT_MODULE(mod_anon_upload) = make_module();
