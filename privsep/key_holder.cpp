// SPDX-License-Identifier: GPL-2.0-or-later
// The KeySign request in the helper, and the key holder process that signs for it.
// The helper itself never reads the key: it forks workers all session long, and each
// would inherit whatever its memory holds. The key holder forks nothing.
#include "privsep/key_holder.hpp"

#include <openssl/ssl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cstdio>

#include "core/common/tls_key_file.hpp"
#include "privsep/key_ops.hpp"
#include "privsep/sandbox.hpp"
#include "core/common/users.hpp"

namespace moat {
namespace {

[[noreturn]] void holder_exit(const std::string& why) {
  std::fprintf(stderr, "moatftpd: key holder: %s\n", why.c_str());
  _exit(1);
}

// Once loaded, the key holder becomes nopriv_user in the empty secure_chroot_dir, with
// a seccomp filter of only what answering needs (seccomp.cpp, kKeyHolderRules): it
// reads nothing else, and a bug in it reaches no file, socket or process. The account
// is the one the master looked up with the configuration: a lookup here would load
// the NSS modules in every TLS session's key holder.
void confine(const ServerContext& ctx) {
  const UserInfo& nopriv = ctx.nopriv;
  Identity id{nopriv.uid, nopriv.gid, {nopriv.gid}, ctx.cfg.secure_chroot_dir, "/"};
  if (auto st = sandbox_enter(id, ctx.cfg.seccomp_sandbox, {SeccompProfile::kKeyHolder}); !st)
    holder_exit(st.error());
}

[[noreturn]] void holder_main(const ServerContext& ctx, UniqueFd sock) {
  prctl(PR_SET_NAME, "moat-keyholder");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  close_fds_except({2, sock.get()});
  auto key = tls_load_key_file(tls_key_path(ctx.cfg), SSL_CTX_get0_certificate(ctx.tls.get()),
                               ctx.cfg.rsa_cert_file);
  if (!key) holder_exit(key.error());
  confine(ctx);
  while (key_holder_answer(key->get(), sock.get())) {
  }
  _exit(0);  // the helper has gone: so has the session
}

}  // namespace

// Requests come only from the helper, which has checked them; they are checked again.
bool key_holder_answer(EVP_PKEY* key, int sock) {
  auto msg = ipc_recv(sock);
  if (!msg) return false;
  if (msg->type != MsgType::kKeySign) holder_exit("unexpected request");
  KeySignResult res;
  if (auto req = decode<KeySignRequest>(msg->payload); req) {
    auto sig = key_sign(key, *req);
    res.ok = sig.ok();
    if (sig) res.signature = std::move(*sig);
  }
  return ipc_send(sock, res).ok();
}

bool KeySigner::start_holder() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
  UniqueFd mine(sv[0]), theirs(sv[1]);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    mine.reset();
    holder_main(ctx_, std::move(theirs));
  }
  holder_ = std::move(mine);
  return true;
}

KeySignResult KeySigner::sign(const KeySignRequest& req) {
  if (holder_failed_ || (!holder_ && !start_holder())) return {};
  if (auto res = ipc_call(holder_.get(), req)) return std::move(res->body);
  holder_failed_ = true;  // a key holder that failed once signs nothing more this session
  return {};
}

Status KeySigner::serve(const Message& msg, int worker_fd) {
  if (!ctx_.tls) return fail("KEY_SIGN without ssl_enable");
  auto req = decode<KeySignRequest>(msg.payload);
  if (!req) return fail("bad KEY_SIGN request: " + req.error());
  if (auto st = key_sign_check(*req, SSL_CTX_get0_privatekey(ctx_.tls.get())); !st)
    return fail("KEY_SIGN: " + st.error());
  return ipc_send(worker_fd, sign(*req));
}

}  // namespace moat
