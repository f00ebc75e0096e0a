// SPDX-License-Identifier: GPL-2.0-or-later
// The helper's hooks into the layers above it (session_hooks.hpp).
#include "config.h"
#include "core/master/session_hooks.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "core/host/module_host.hpp"
#include "core/host/modules.hpp"
#include "core/common/sockaddr.hpp"
#include "core/tls/tls.hpp"
#include "core/session/worker.hpp"
#include "core/common/users.hpp"

namespace moat {
namespace {

// mod_anon_upload's options, read through the registry: unset, or the module not
// loaded, is vsftpd's default (NO).
bool anon_option(const Config& c, const char* name) {
  const char* text = module_option_text(c, name, MOAT_OPT_BOOL);
  if (text == nullptr) return false;
  auto v = config_parse_bool(name, text);
  return v && *v;
}

// vsftpd: every anonymous write needs write_enable=YES as well as its own option.
AnonRights anon_rights(const Config& c) {
  AnonRights r;
  if (!c.write_enable) return r;
  r.upload = anon_option(c, "anon_upload_enable");
  r.mkdir = anon_option(c, "anon_mkdir_write_enable");
  r.other = anon_option(c, "anon_other_write_enable");
  r.chown = (r.upload || r.other) && anon_option(c, "chown_uploads");
  return r;
}

// chown_uploads: chown_username looked up at login, so a missing user fails the login
// (vsftpd dies at the first upload instead).
Status grant_chown(const Config& c, AnonGrant& g) {
  const char* name = module_option_text(c, "chown_username", MOAT_OPT_STRING);
  const char* mode = module_option_text(c, "chown_upload_mode", MOAT_OPT_UINT);
  auto owner = user_account(name ? name : "root");  // uid and primary gid only
  if (!owner) return fail("chown_username: " + owner.error());
  auto m = config_parse_uint("chown_upload_mode", mode ? mode : "0600");
  if (!m) return fail(m.error());
  g.chown_uid = owner->uid;
  g.chown_gid = owner->gid;
  g.chown_mode = static_cast<mode_t>(*m & 07777);
  return Ok{};
}

Result<AnonGrant> anon_grant(const Config& c) {
  AnonGrant g;
  g.rights = anon_rights(c);
  if (g.rights.chown)
    if (auto st = grant_chown(c, g); !st) return fail(st.error());
  return g;
}

bool module_priv(const Config& cfg, const ModulePrivRequest& req, const PrivCaller& who,
                 int fd) {
  ModuleRegistry* m = cfg.modules.get();
  if (!m) return false;
  std::string peer_text = sockaddr_host_text(who.peer);
  moat_conn conn{who.peer, who.local, peer_text.c_str()};
  moat_session session{&conn, who.user.c_str(), who.anonymous ? 1 : 0, nullptr};
  return m->priv_request(req.module, conn, session, req.type, req.payload, fd) == 0;
}

// This session's own ticket keys, before its first worker inherits them.
Status session_start(const ServerContext& ctx) {
  if (!ctx.tls) return Ok{};
  return tls_new_ticket_keys(ctx.tls.get());
}

}  // namespace

// The production launcher: a child that confines itself, then speaks FTP.
Result<pid_t> fork_sandboxed_worker(WorkerLaunch&& w) {
  pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    refuse_client(w.control.get(), w.start.implicit_tls);
    return fail("fork: " + errno_text(err));
  }
  if (pid > 0) return pid;
  prctl(PR_SET_NAME, w.start.logged_in ? "moat-session" : "moat-preauth");
  if (w.err && dup2(w.err.get(), STDERR_FILENO) < 0) _exit(1);  // none for the operator's
  w.keep_fds.insert(w.keep_fds.end(), {w.control.get(), w.ipc.get()});
  close_fds_except(w.keep_fds);  // the helper's end of the IPC socket among them
  // Before login nothing may reach the memory every session shares (issue 11, point 6).
  if (!w.start.logged_in && !module_shared_detach()) {
    std::fprintf(stderr, "moatftpd: sandbox: cannot detach module shared memory\n");
    _exit(1);
  }
  if (auto st = sandbox_enter(w.identity, w.start.ctx->cfg.seccomp_sandbox, w.policy); !st) {
    std::string msg = "500 OOPS: cannot start session: " + st.error() + "\r\n";
    if (!w.start.implicit_tls) {  // before an implicit-FTPS handshake: say nothing
      ssize_t ignored = write(w.control.get(), msg.data(), msg.size());
      (void)ignored;
    }
    std::fprintf(stderr, "moatftpd: sandbox: %s\n", st.error().c_str());
    _exit(1);
  }
  w.start.control_fd = w.control.release();
  w.start.helper_fd = w.ipc.release();
  worker_main(w.start);
}

HelperHooks session_helper_hooks(std::shared_ptr<const ServerContext> ctx) {
  HelperHooks h;
  h.launch = fork_sandboxed_worker;
  h.session_start = [ctx] { return session_start(*ctx); };
  h.anon_grant = anon_grant;
  h.module_priv = [ctx](const ModulePrivRequest& req, const PrivCaller& who, int fd) {
    return module_priv(ctx->cfg, req, who, fd);
  };
  return h;
}

}  // namespace moat
