// SPDX-License-Identifier: GPL-2.0-or-later
// TLS for FTPS on OpenSSL 3: the server SSL_CTX built from the ssl_* options, the
// control-channel handshake, and the session-reuse proof data connections carry.
#include "core/tls/tls.hpp"

#include "core/common/tls_key_file.hpp"
#include "core/tls/tls_remote_key.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <utility>

namespace moat {
namespace {

constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxShown = 80;
constexpr unsigned char kSessionIdContext[] = "moatftpd";
constexpr std::string_view kFtpAlpn = "ftp";

// What the callbacks need from the Config, kept with the SSL_CTX (ex_data) so that it
// lives exactly as long as the context and every SSL made from it.
struct TlsSettings {
  std::string sni_hostname;
  bool debug = false;
  bool ktls = false;  // the kernel offers the "tls" ULP (probed in the master: no /proc later)
};

// The tag of this process's control connection (one per pre-login worker), put into
// every ticket it issues; empty in processes that never ran tls_accept_control.
std::string g_control_tag;

// Why one of our callbacks refused a handshake: clearer than OpenSSL's "callback failed".
thread_local std::string t_refusal;

void free_settings(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<TlsSettings*>(ptr);
}

int settings_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_settings);
  return index;
}

const TlsSettings* settings_of(const SSL_CTX* ctx) {
  if (ctx == nullptr) return nullptr;
  return static_cast<const TlsSettings*>(SSL_CTX_get_ex_data(ctx, settings_index()));
}

const TlsSettings* settings_of(const SSL* ssl) { return settings_of(SSL_get_SSL_CTX(ssl)); }

void debug_log(const TlsSettings* st, std::string_view message) {
  if (st == nullptr || !st->debug) return;
  std::fprintf(stderr, "moatftpd: tls: %.*s\n", static_cast<int>(message.size()), message.data());
}

// Client-supplied text made safe for a one-line log message.
std::string shown(std::string_view text) {
  std::string out(text.substr(0, kMaxShown));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// ---- callbacks -----------------------------------------------------------

// ALPACA (CVE-2021-3618): a client that names protocols must name ftp; one that names
// none (curl, most FTP clients) is fine.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  std::string_view list(reinterpret_cast<const char*>(in), inlen);
  std::string offered;
  while (!list.empty()) {
    const std::size_t n = static_cast<unsigned char>(list.front());
    if (n == 0 || n >= list.size()) break;  // malformed: OpenSSL checks first, be safe anyway
    const std::string_view proto = list.substr(1, n);
    if (proto == kFtpAlpn) {
      *out = reinterpret_cast<const unsigned char*>(proto.data());
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    offered += (offered.empty() ? "" : ",") + std::string(proto);
    list.remove_prefix(n + 1);
  }
  t_refusal = "refused: client offered ALPN '" + shown(offered) + "' without 'ftp'";
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// With ssl_sni_hostname, a client asking for another host is talking to the wrong
// server (or is being redirected): refuse it. No SNI at all is fine.
int check_sni(SSL* ssl, int* alert, void*) {
  const TlsSettings* st = settings_of(ssl);
  if (st == nullptr || st->sni_hostname.empty()) return SSL_TLSEXT_ERR_OK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || iequals(name, st->sni_hostname)) return SSL_TLSEXT_ERR_OK;
  t_refusal = "refused: client SNI '" + shown(name) + "' is not ssl_sni_hostname";
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// Every ticket the control connection issues carries its tag, so that a data
// connection's resumed session proves where it came from.
int tag_ticket(SSL* ssl, void*) {
  if (g_control_tag.empty()) return 1;
  SSL_SESSION* sess = SSL_get_session(ssl);
  if (sess == nullptr) return 1;
  return SSL_SESSION_set1_ticket_appdata(sess, g_control_tag.data(), g_control_tag.size());
}

// validate_cert=NO: vsftpd asks for a client certificate but takes any it is given.
int accept_any_cert(int, X509_STORE_CTX*) { return 1; }

// A PEM file with a pass phrase must fail, never prompt on the master's terminal.
int no_password(char*, int, int, void*) { return 0; }

void info_callback(const SSL* ssl, int where, int ret) {
  const TlsSettings* st = settings_of(ssl);
  if (where & SSL_CB_ALERT) {
    debug_log(st, std::string("alert ") + ((where & SSL_CB_READ) ? "received: " : "sent: ") +
                      SSL_alert_type_string_long(ret) + " " + SSL_alert_desc_string_long(ret));
  }
  if (where & SSL_CB_HANDSHAKE_DONE) {
    debug_log(st, std::string("handshake done: ") + SSL_get_version(ssl) + " " +
                      SSL_get_cipher_name(ssl) +
                      (SSL_session_reused(ssl) ? " (resumed)" : " (full)"));
  }
}

// ---- context -------------------------------------------------------------

// The kernel lists the TLS upper-layer protocol once the tls module is available.
bool probe_ktls() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string word;
  while (in >> word) {
    if (word == "tls") return true;
  }
  return false;
}

std::string file_error(std::string_view option, const std::string& path, std::string_view why) {
  return std::string(option) + " " + path + ": " + std::string(why);
}

// errno from opening the file, so "No such file or directory" beats OpenSSL's words.
Status check_readable(std::string_view option, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    return fail(file_error(option, path, errno_text(err)));
  }
  return Ok{};
}

Status set_versions(SSL_CTX* ctx, const Config& cfg) {
  if (!cfg.ssl_tlsv1_2 && !cfg.ssl_tlsv1_3) {
    return fail("ssl_tlsv1_2=NO and ssl_tlsv1_3=NO: no TLS version left to offer");
  }
  const int min = cfg.ssl_tlsv1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;
  const int max = cfg.ssl_tlsv1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min) != 1 || SSL_CTX_set_max_proto_version(ctx, max) != 1)
    return fail("TLS protocol versions: " + tls_error_text());
  return Ok{};
}

Status set_ciphers(SSL_CTX* ctx, const Config& cfg) {
  // RSA key exchange would need a decryption by the key holder: a decryption oracle
  // for any recorded session. Only (EC)DHE key exchange, which needs a signature.
  const std::string list = cfg.ssl_ciphers + ":!kRSA";
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
    return fail("ssl_ciphers=" + shown(cfg.ssl_ciphers) + ": " + tls_error_text());
  // TLS 1.3: the server's order decides (SSL_OP_CIPHER_SERVER_PREFERENCE, set_options).
  if (SSL_CTX_set_ciphersuites(ctx, cfg.ssl_ciphersuites.c_str()) != 1)
    return fail("ssl_ciphersuites=" + shown(cfg.ssl_ciphersuites) + ": " + tls_error_text());
  return Ok{};
}

// The SSL_CTX gets the certificate and a stand-in key: the private key file is only
// checked here, in a child (core/common/tls_key_file.hpp); the session's key holder signs.
Status load_cert_and_key(SSL_CTX* ctx, const Config& cfg) {
  const std::string& cert = cfg.rsa_cert_file;
  const std::string& key_path = tls_key_path(cfg);
  if (auto st = check_readable("rsa_cert_file", cert); !st) return st;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return fail(file_error("rsa_cert_file", cert, tls_error_text()));
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (auto st = tls_check_key_file(key_path, leaf, cert); !st) return st;
  auto stand_in = remote_key_for(leaf);
  if (!stand_in) return fail(file_error("rsa_cert_file", cert, stand_in.error()));
  if (SSL_CTX_use_PrivateKey(ctx, stand_in->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return fail(file_error("rsa_cert_file", cert, "stand-in key refused: " + tls_error_text()));
  return Ok{};
}

// ca_certs_file is the trust store for client certificates and the list of CAs the
// server names when it asks for one.
Status load_client_cas(SSL_CTX* ctx, const Config& cfg) {
  const std::string& path = cfg.ca_certs_file;
  if (path.empty()) return Ok{};
  if (auto st = check_readable("ca_certs_file", path); !st) return st;
  if (SSL_CTX_load_verify_locations(ctx, path.c_str(), nullptr) != 1)
    return fail(file_error("ca_certs_file", path, tls_error_text()));
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(path.c_str());
  if (names == nullptr) return fail(file_error("ca_certs_file", path, tls_error_text()));
  SSL_CTX_set_client_CA_list(ctx, names);
  return Ok{};
}

// vsftpd: ssl_request_cert asks, require_cert insists (and so implies asking),
// validate_cert checks the chain against ca_certs_file; without it any cert will do.
Status set_client_verify(SSL_CTX* ctx, const Config& cfg) {
  if (cfg.validate_cert && cfg.ca_certs_file.empty())
    return fail("validate_cert=YES needs ca_certs_file (the CAs client certificates must chain to)");
  if (!cfg.ssl_request_cert && !cfg.require_cert) return Ok{};
  int mode = SSL_VERIFY_PEER;
  if (cfg.require_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, cfg.validate_cert ? nullptr : accept_any_cert);
  return Ok{};
}

// Resumption across a session's processes: ticket keys are the context's own, made anew
// by each session's helper (tls_new_ticket_keys) before its first worker; the session
// cache serves TLS 1.2 clients that resume by session id.
void set_sessions(SSL_CTX* ctx) {
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_ticket_cb(ctx, tag_ticket, nullptr, nullptr);
}

void set_options(SSL_CTX* ctx) {
  // The client's preference decides only between ChaCha20 and the AES suites: a
  // client without AES hardware gets ChaCha20, every other one AES-GCM.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, check_sni);
}

Status attach_settings(SSL_CTX* ctx, const Config& cfg) {
  auto* st = new TlsSettings{cfg.ssl_sni_hostname, cfg.debug_ssl, probe_ktls()};
  if (SSL_CTX_set_ex_data(ctx, settings_index(), st) != 1) {
    delete st;
    return fail("SSL_CTX_set_ex_data: " + tls_error_text());
  }
  if (cfg.debug_ssl) SSL_CTX_set_info_callback(ctx, info_callback);
  return Ok{};
}

Status configure(SSL_CTX* ctx, const Config& cfg) {
  if (auto st = attach_settings(ctx, cfg); !st) return st;
  if (auto st = set_versions(ctx, cfg); !st) return st;
  if (auto st = set_ciphers(ctx, cfg); !st) return st;
  if (auto st = load_cert_and_key(ctx, cfg); !st) return st;
  if (auto st = load_client_cas(ctx, cfg); !st) return st;
  if (auto st = set_client_verify(ctx, cfg); !st) return st;
  set_options(ctx);
  set_sessions(ctx);
  return Ok{};
}

// ---- handshake -----------------------------------------------------------

std::string random_tag() {
  std::string tag(kTagBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(tag.data()), static_cast<int>(tag.size())) != 1)
    return {};
  return tag;
}

// Puts the socket in non-blocking mode for the handshake and back afterwards.
class NonBlocking {
 public:
  explicit NonBlocking(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {
    if (flags_ >= 0 && !(flags_ & O_NONBLOCK)) ::fcntl(fd_, F_SETFL, flags_ | O_NONBLOCK);
  }
  ~NonBlocking() {
    if (flags_ >= 0 && !(flags_ & O_NONBLOCK)) ::fcntl(fd_, F_SETFL, flags_);
  }
  NonBlocking(const NonBlocking&) = delete;
  NonBlocking& operator=(const NonBlocking&) = delete;

 private:
  int fd_;
  int flags_;
};

std::string handshake_error(int err, int rc, int saved_errno) {
  if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ERR_clear_error();
  if (!t_refusal.empty() || ERR_peek_error() != 0) return tls_error_text();
  if (err == SSL_ERROR_SYSCALL && rc < 0 && saved_errno != 0) return errno_text(saved_errno);
  return "connection closed during the TLS handshake";
}

Status wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline,
                unsigned timeout_seconds) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return Ok{};
    if (n < 0 && errno != EINTR) return fail("poll: " + errno_text(errno));
  }
  return fail("TLS handshake timed out after " + std::to_string(timeout_seconds) + " s");
}

Status run_accept(SSL* ssl, int fd, unsigned timeout_seconds) {
  const NonBlocking nb(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_accept(ssl);
    const int saved_errno = errno;
    if (rc == 1) return Ok{};
    const int err = SSL_get_error(ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
      return fail(handshake_error(err, rc, saved_errno));
    const short events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    if (auto st = wait_for(fd, events, deadline, timeout_seconds); !st) return st;
  }
}

bool session_tag_is(SSL_SESSION* sess, std::string_view tag) {
  void* data = nullptr;
  std::size_t len = 0;
  if (sess == nullptr || SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1) return false;
  return len == tag.size() && len > 0 && CRYPTO_memcmp(data, tag.data(), len) == 0;
}

}  // namespace

Result<std::shared_ptr<SSL_CTX>> tls_server_context(const Config& cfg) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SslCtxDeleter{});
  if (!ctx) return fail("SSL_CTX_new: " + tls_error_text());
  if (auto st = configure(ctx.get(), cfg); !st) return fail(st.error());
  return ctx;
}

Result<SslPtr> tls_accept_control(SSL_CTX* ctx, int fd, unsigned timeout_seconds) {
  g_control_tag = random_tag();
  if (g_control_tag.empty()) return fail("RAND_bytes: " + tls_error_text());
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return fail("SSL_new: " + tls_error_text());
  t_refusal.clear();
  if (auto st = run_accept(ssl.get(), fd, timeout_seconds); !st) {
    debug_log(settings_of(ctx), "control handshake failed: " + st.error());
    return fail(st.error());
  }
  // A TLS 1.2 client that resumes by session id gets no ticket: tag the session itself,
  // which is what the session cache (and tls_export_session) hold.
  SSL_SESSION* sess = SSL_get_session(ssl.get());
  if (sess != nullptr) {
    SSL_SESSION_set1_ticket_appdata(sess, g_control_tag.data(), g_control_tag.size());
  }
  return ssl;
}

std::string tls_control_tag() { return g_control_tag; }

Status tls_new_ticket_keys(SSL_CTX* ctx) {
  unsigned char keys[80];  // name, HMAC and AES keys, as SSL_CTX_set_tlsext_ticket_keys takes them
  const bool ok = RAND_priv_bytes(keys, sizeof keys) == 1 &&
                  SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof keys) == 1;
  OPENSSL_cleanse(keys, sizeof keys);
  return ok ? Status(Ok{}) : fail("session ticket keys: " + tls_error_text());
}

SslPtr tls_new_data_ssl(SSL_CTX* ctx) {
  t_refusal.clear();  // tls_error_text() after this handshake must not see an old one
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return ssl;
  SSL_set_num_tickets(ssl.get(), 0);
  const TlsSettings* st = settings_of(ctx);
  if (st != nullptr && st->ktls) SSL_set_options(ssl.get(), SSL_OP_ENABLE_KTLS);
  return ssl;
}

bool tls_resumed_control_session(SSL* data, std::string_view control_tag) {
  if (data == nullptr || control_tag.empty() || !SSL_session_reused(data)) return false;
  return session_tag_is(SSL_get_session(data), control_tag);
}

std::string tls_export_session(SSL* control) {
  SSL_SESSION* sess = control ? SSL_get_session(control) : nullptr;
  if (sess == nullptr) return {};
  const int len = i2d_SSL_SESSION(sess, nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_SSL_SESSION(sess, &p) != len) return {};
  return der;
}

void tls_import_session(SSL_CTX* ctx, std::string_view der) {
  if (ctx == nullptr || der.empty()) return;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SSL_SESSION* sess = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.size()));
  if (sess == nullptr) {
    ERR_clear_error();
    return;
  }
  unsigned int id_len = 0;
  SSL_SESSION_get_id(sess, &id_len);
  // Only a session with an id can be found in the cache (TLS 1.3 resumes by ticket).
  if (id_len > 0) SSL_CTX_add_session(ctx, sess);
  SSL_SESSION_free(sess);
}

bool tls_ktls_send_enabled(SSL* ssl) {
  if (ssl == nullptr) return false;
  BIO* wbio = SSL_get_wbio(ssl);
  return wbio != nullptr && BIO_get_ktls_send(wbio);
}

void tls_debug_log(const SSL* ssl, std::string_view message) {
  debug_log(settings_of(ssl), message);
}

std::string tls_error_text() {
  // Our own refusal says why; OpenSSL would only add "callback failed".
  if (!t_refusal.empty()) {
    ERR_clear_error();
    return std::exchange(t_refusal, std::string());
  }
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason != nullptr ? reason : "OpenSSL error " + std::to_string(e);
    if (data != nullptr && (flags & ERR_TXT_STRING) && *data != '\0') out += std::string(" (") + data + ")";
  }
  return out.empty() ? "unknown TLS error" : out;
}

}  // namespace moat
