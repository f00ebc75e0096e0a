// SPDX-License-Identifier: GPL-2.0-or-later
// The helper's hooks into the layers above it (session_hooks.hpp).
#include "config.h"
#include "core/master/session_hooks.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "core/host/modules.hpp"
#include "core/common/sockaddr.hpp"
#include "core/tls/tls.hpp"
#include "core/session/worker.hpp"

namespace moat {
namespace {

// What the session process's modules see of the connection and the user.
struct CallerView {
  std::string peer_text;
  moat_conn conn;
  moat_session session;
  explicit CallerView(const PrivCaller& who)
      : peer_text(sockaddr_host_text(who.peer)),
        conn{who.peer, who.local, peer_text.c_str()},
        session{&conn, who.user.c_str(), who.anonymous ? 1 : 0, nullptr,
                static_cast<uint32_t>(who.uid)} {}
  CallerView(const CallerView&) = delete;
  CallerView& operator=(const CallerView&) = delete;
};

// The writes of a login with anonymous rights: the modules' (mod_anon_upload) to
// grant, and none without them. They are asked at every such login, so that what they
// keep for the session is this login's; write_enable=NO refuses every write whatever
// they say.
Result<AnonRights> anon_rights(const PrivCaller& who) {
  const Config& c = who.cfg;
  if (!c.modules) return AnonRights{};
  CallerView view(who);
  auto bits = c.modules->login_rights(c, view.session);
  if (!bits) return fail(bits.error());
  if (!c.write_enable) return AnonRights{};
  return AnonRights{(*bits & MOAT_WRITE_UPLOAD) != 0, (*bits & MOAT_WRITE_MKDIR) != 0,
                    (*bits & MOAT_WRITE_OTHER) != 0};
}

bool module_priv(const ModulePrivRequest& req, const PrivCaller& who, int fd) {
  ModuleRegistry* m = who.cfg.modules.get();
  if (!m) return false;
  CallerView view(who);
  return m->priv_request(who.cfg, req.module, view.conn, view.session, req.type, req.payload,
                         fd) == 0;
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
  ModuleRegistry* modules = w.start.ctx->cfg.modules.get();
  if (!w.start.logged_in && modules && !modules->shared_detach()) {
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
  h.anon_rights = anon_rights;
  h.module_priv = module_priv;
  return h;
}

}  // namespace moat
