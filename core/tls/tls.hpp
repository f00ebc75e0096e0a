// SPDX-License-Identifier: GPL-2.0-or-later
// TLS for FTPS (RFC 4217) on OpenSSL: the server context the master builds from the
// ssl_* options, the control-channel handshake, and the checks a data connection
// must pass (session reuse, ALPN, SNI).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/common/config.hpp"
#include "core/common/util.hpp"

namespace moat {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// Built by the master from the Config at start-up, on SIGHUP and for `-t`, when
// ssl_enable=YES: certificate chain and key (rsa_cert_file, rsa_private_key_file,
// which defaults to the cert file), TLS 1.2 and/or 1.3 only (ssl_tlsv1_2,
// ssl_tlsv1_3; at least one on), ssl_ciphers, client certificates (ssl_request_cert,
// require_cert, validate_cert, ca_certs_file), the ALPN rule (an offered list without
// "ftp" is refused; no ALPN is fine) and the SNI rule (ssl_sni_hostname set: an SNI
// other than it is refused; no SNI is fine). Session tickets are on, with keys made
// here: every session process inherits the same keys through fork, so a data
// connection in the post-login worker can resume the control connection's session.
// Errors name the file or option: "rsa_cert_file /x/y.pem: No such file or directory".
Result<std::shared_ptr<SSL_CTX>> tls_server_context(const Config& cfg);

// Blocking server handshake on a connected socket (the pre-login worker's control
// connection), giving up after timeout_seconds. Before it, the tickets this
// connection issues are tagged with a fresh random value that tls_control_tag()
// then returns; data connections prove they resumed *this* session by carrying it.
// Errors are one line for the log ("alert: no application protocol").
Result<SslPtr> tls_accept_control(SSL_CTX* ctx, int fd, unsigned timeout_seconds);
std::string tls_control_tag();  // 16 random bytes, empty before tls_accept_control

// Fresh session-ticket keys for ctx, in this process's copy of it: a session's helper
// calls it before its first worker, so its workers share keys no other session has and
// the post-login worker can still resume the control connection's session.
Status tls_new_ticket_keys(SSL_CTX* ctx);

// A new server SSL for a data connection: issues no session tickets (a client that
// closes without reading them would make the kernel reset the connection and lose
// the end of an upload), and records whether the handshake resumed a session.
SslPtr tls_new_data_ssl(SSL_CTX* ctx);

// After a data connection's handshake: true when it resumed a session whose ticket
// (or session id) came from the control connection with this tag.
bool tls_resumed_control_session(SSL* data, std::string_view control_tag);

// The control session, serialised, for the post-login worker's session cache (so
// that TLS 1.2 clients resuming by session id, not ticket, also resume). Import
// ignores malformed input.
std::string tls_export_session(SSL* control);
void tls_import_session(SSL_CTX* ctx, std::string_view der);

// Kernel TLS: asks OpenSSL to use it for this SSL when the kernel and OpenSSL offer
// it (probed at run time); true when sends go through the kernel, so that SSL_sendfile
// can be used. Falls back silently otherwise.
// OpenSSL must be asked before the handshake: tls_new_data_ssl does that when the
// master's probe (tls_server_context) found the kernel's "tls" ULP; call this one
// after the handshake.
bool tls_ktls_send_enabled(SSL* ssl);

// With debug_ssl=YES on ssl's context: "moatftpd: tls: MESSAGE" on stderr (e.g. a
// data connection's handshake failure with tls_error_text()). Otherwise nothing.
void tls_debug_log(const SSL* ssl, std::string_view message);

// One-line description of the last OpenSSL error(s) on this thread, and clears them.
std::string tls_error_text();

}  // namespace moat
