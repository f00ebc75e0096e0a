// SPDX-License-Identifier: GPL-2.0-or-later
// FTPS on the control connection (RFC 4217): AUTH TLS, PBSZ, PROT, CCC, the
// vsftpd force_*/allow_anon_ssl login rules, control I/O through TLS, and the
// hand-over at login, after which this worker relays the control connection.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>

#include "core/session/session.hpp"
#include "core/tls/tls_relay.hpp"
#include "core/tls/tls_remote_key.hpp"
#include "privsep/sandbox.hpp"
#include "privsep/ipc.hpp"
#include "privsep/log_request.hpp"

namespace moat {
namespace {

constexpr unsigned kHandshakeSeconds = 30;

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool Session::tls_enabled() const { return cfg.ssl_enable && ctx.tls != nullptr; }

// After "234" the client starts the handshake; nothing it sent in plaintext after
// AUTH may be taken as a command once TLS is up (STARTTLS command injection).
bool Session::tls_handshake() {
  unsigned timeout = cfg.idle_session_timeout ? std::min(cfg.idle_session_timeout, kHandshakeSeconds)
                                              : kHandshakeSeconds;
  auto ssl = tls_accept_control(ctx.tls.get(), st.control_fd, timeout);
  if (!ssl) {
    if (cfg.debug_ssl) std::fprintf(stderr, "moatftpd: tls: control handshake: %s\n", ssl.error().c_str());
    if (ctx.session_log_enabled()) log_request({LogKind::kTlsFailed, ssl.error()});
    return false;
  }
  ssl_ = std::move(*ssl);
  fcntl(st.control_fd, F_SETFL, fcntl(st.control_fd, F_GETFL) | O_NONBLOCK);
  st.tls.active = true;
  st.tls.tag = tls_control_tag();
  return true;
}

// Waits until the control socket is ready for what OpenSSL wants, for at most the
// idle timeout; false when it never became ready.
bool Session::tls_wait(int ssl_error) {
  pollfd p{st.control_fd, static_cast<short>(ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
  int ms = cfg.idle_session_timeout ? static_cast<int>(cfg.idle_session_timeout) * 1000 : -1;
  for (;;) {
    int n = poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

void Session::tls_write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    int len = static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX));
    int n = SSL_write(ssl_.get(), bytes.data(), len);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) && tls_wait(err)) continue;
    ssl_.reset();  // broken: no close_notify on a dead connection
    _exit(0);
  }
}

// >0 bytes read, 0 when the client closed, -1 when nothing more is ready.
ssize_t Session::control_read(char* buf, size_t len) {
  if (!ssl_) {
    ssize_t n = recv(st.control_fd, buf, len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
    return n < 0 ? 0 : n;
  }
  int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (n > 0) return n;
  int err = SSL_get_error(ssl_.get(), n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return -1;
  if (err != SSL_ERROR_ZERO_RETURN) ssl_.reset();  // no close_notify after a TLS error
  return 0;
}

void Session::tls_close() {
  if (!ssl_) return;
  int rc = SSL_shutdown(ssl_.get());  // our close_notify; the client's is not awaited
  if (rc < 0) {
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_WRITE && tls_wait(err)) SSL_shutdown(ssl_.get());
  }
  ssl_.reset();
}

// At login with TLS: the post-login worker gets the plaintext end of a socketpair,
// and this process stays as the relay between it and the TLS connection. After a
// REIN the TLS is already in a relay; the control fd is that plaintext end.
void Session::tls_handover(Handover& h) {
  h.tls = st.tls;
  if (ssl_) h.tls.session = tls_export_session(ssl_.get());
  if (h.tls.session.size() > kMaxTlsSession) h.tls.session.clear();  // resumption by ticket still works
  if (!ssl_) return;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    end_session(421, "Service not available, closing control connection.");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  h.relay = true;
  int fd = theirs.get();
  if (auto s = ipc_send(st.helper_fd, h, std::span(&fd, 1)); !s)
    end_session(421, "Service not available, closing control connection.");
  theirs.reset();
  ctrl_ev_.reset();  // out of the event loop before their descriptors change hands
  idle_ev_.reset();
  helper_ev_.reset();
  close(st.helper_fd);  // the relay has nothing more to ask, not even a signature
  remote_key_set_channel(-1);
  if (cfg.seccomp_sandbox && !seccomp_enter_relay()) end_silently();
  tls_relay(ssl_.get(), st.control_fd, mine.get());
}

// ---- commands ----------------------------------------------------------------

void Session::cmd_auth(const std::string& arg) {
  std::string mech = upper(arg);
  if (mech != "TLS" && mech != "TLS-C" && mech != "SSL" && mech != "TLS-P")
    return reply(504, "Unknown AUTH type.");
  if (st.tls.active) return reply(503, "Already using TLS.");
  if (st.logged_in) return reply(503, "AUTH must come before login.");
  reply(234, "Proceeding with negotiation.");
  discard_pending_input_ = true;
  user_given = false;
  if (!tls_handshake()) end_silently();
}

void Session::cmd_pbsz(const std::string& arg) {
  if (!st.tls.active) return reply(503, "PBSZ not allowed on insecure control connection.");
  if (arg.empty() || arg.find_first_not_of("0123456789") != std::string::npos)
    return reply(501, "PBSZ needs a number.");
  st.tls.pbsz = true;
  reply(200, "PBSZ set to 0.");
}

void Session::cmd_prot(const std::string& arg) {
  if (!st.tls.active) return reply(503, "PROT not allowed on insecure control connection.");
  if (!st.tls.pbsz) return reply(503, "PBSZ must come before PROT.");
  std::string level = upper(arg);
  if (level == "C") {
    st.tls.prot_private = false;
    return reply(200, "PROT now Clear.");
  }
  if (level == "P") {
    st.tls.prot_private = true;
    return reply(200, "PROT now Private.");
  }
  if (level == "S" || level == "E") return reply(536, "PROT level not supported.");
  reply(504, "Unknown PROT level.");
}

void Session::cmd_ccc(const std::string&) {
  if (!st.tls.active) return reply(533, "CCC not allowed on insecure control connection.");
  reply(534, "CCC not allowed: the control connection stays encrypted.");
}

// vsftpd's rules, at USER: an empty string means the name may go on.
std::string Session::tls_login_refusal(bool anonymous) const {
  if (!cfg.ssl_enable) return {};
  if (anonymous && st.tls.active && !cfg.allow_anon_ssl)
    return "Anonymous sessions may not use encryption.";
  if (anonymous && !st.tls.active && cfg.force_anon_logins_ssl)
    return "Anonymous sessions must use encryption.";
  if (!anonymous && !st.tls.active && cfg.force_local_logins_ssl)
    return "Non-anonymous sessions must use encryption.";
  return {};
}

bool Session::data_must_be_private() const {
  if (!cfg.ssl_enable || st.tls.prot_private) return false;
  return st.anonymous ? cfg.force_anon_data_ssl : cfg.force_local_data_ssl;
}

}  // namespace moat
