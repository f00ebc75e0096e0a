// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/tls: the server context built from the ssl_* options (and its
// errors), real handshakes over socketpairs against an OpenSSL client, ALPN, SNI,
// client certificates, and the session-reuse proof of data connections.
#include "core/tls/tls.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <fstream>

#include "tests/unit/tls_test_util.hpp"

namespace moat {
namespace {

using tls_test::ClientOptions;
using tls_test::ClientOutcome;
using tls_test::ClientThread;
using tls_test::Files;
using tls_test::Pair;
using tls_test::serve_line;
using tls_test::server_ctx;
using tls_test::socket_pair;
using tls_test::tls_config;

// Every suite has the certificate files (tls_test::Files) while it runs.
class TlsContext : public tls_test::WithFiles {};
class TlsHandshake : public tls_test::WithFiles {};
class TlsClientCert : public tls_test::WithFiles {};
class TlsResumeData : public tls_test::WithFiles {};
class TlsKtls : public tls_test::WithFiles {};
class TlsResume : public tls_test::WithFiles, public testing::WithParamInterface<int> {};

std::string context_error(const Config& cfg) {
  auto ctx = tls_server_context(cfg);
  return ctx ? std::string("(no error)") : ctx.error();
}

// One control connection: the client in a thread, tls_accept_control here.
struct Control {
  Result<SslPtr> ssl = fail("not run");
  std::string tag;
  ClientOutcome client;
};

Control control(SSL_CTX* ctx, const ClientOptions& o, unsigned timeout = 5) {
  Pair p = socket_pair();
  Control c;
  ClientThread client(p.client.get(), o);
  c.ssl = tls_accept_control(ctx, p.server.get(), timeout);
  c.tag = tls_control_tag();
  if (c.ssl) {
    serve_line(c.ssl->get(), "220 ok\r\n");
  } else {
    ::shutdown(p.server.get(), SHUT_RDWR);  // a failed handshake: the client sees EOF
  }
  c.client = std::move(client.join());
  return c;
}

// One data connection: tls_new_data_ssl, a blocking handshake, the reuse check.
struct Data {
  bool handshake = false;
  bool proven = false;  // tls_resumed_control_session(data, tag)
  bool other_tag_proven = false;
  bool ktls = false;  // tls_ktls_send_enabled after the handshake
  ClientOutcome client;
};

Data data_connection(SSL_CTX* ctx, const ClientOptions& o, const std::string& tag) {
  Pair p = socket_pair();
  Data d;
  ClientThread client(p.client.get(), o);
  SslPtr ssl = tls_new_data_ssl(ctx);
  EXPECT_TRUE(ssl);
  SSL_set_fd(ssl.get(), p.server.get());
  d.handshake = SSL_accept(ssl.get()) == 1;
  if (d.handshake) {
    d.proven = tls_resumed_control_session(ssl.get(), tag);
    d.other_tag_proven = tls_resumed_control_session(ssl.get(), std::string(16, 'x'));
    d.ktls = tls_ktls_send_enabled(ssl.get());
    serve_line(ssl.get(), "data\r\n");
  } else {
    ERR_clear_error();
    ::shutdown(p.server.get(), SHUT_RDWR);
  }
  d.client = std::move(client.join());
  return d;
}

ClientOptions resuming(SSL_SESSION* s, int version = 0) {
  ClientOptions o;
  o.resume = s;
  o.min_version = o.max_version = version;
  return o;
}

// ---- context: options and their errors ------------------------------------

TEST_F(TlsContext, BuildsFromGoodFiles) {
  EXPECT_TRUE(tls_server_context(tls_config()).ok());
  Config combined = tls_config();
  combined.rsa_cert_file = Files::get().combined;
  combined.rsa_private_key_file = "";  // the key is in the cert file
  auto ctx = tls_server_context(combined);
  ASSERT_TRUE(ctx.ok()) << ctx.error();
  Control c = control(ctx->get(), {});
  EXPECT_TRUE(c.ssl.ok());
  EXPECT_TRUE(c.client.ok);
}

TEST_F(TlsContext, MissingFilesAreNamed) {
  Config cfg = tls_config();
  cfg.rsa_cert_file = Files::get().dir + "/missing.pem";
  EXPECT_EQ(context_error(cfg), "rsa_cert_file " + cfg.rsa_cert_file + ": No such file or directory");
  cfg = tls_config();
  cfg.rsa_private_key_file = Files::get().dir + "/missing.key";
  EXPECT_EQ(context_error(cfg),
            "rsa_private_key_file " + cfg.rsa_private_key_file + ": No such file or directory");
  cfg = tls_config();
  cfg.ca_certs_file = Files::get().dir + "/missing-ca.pem";
  EXPECT_EQ(context_error(cfg), "ca_certs_file " + cfg.ca_certs_file + ": No such file or directory");
  // The default key file is the cert file: a cert file without a key says so.
  cfg = tls_config();
  cfg.rsa_private_key_file = "";
  EXPECT_EQ(context_error(cfg).rfind("rsa_private_key_file " + cfg.rsa_cert_file + ": no ", 0), 0u)
      << context_error(cfg);
}

TEST_F(TlsContext, BadFilesAreNamed) {
  Config cfg = tls_config();
  cfg.rsa_cert_file = Files::get().garbage;
  EXPECT_EQ(context_error(cfg).rfind("rsa_cert_file " + Files::get().garbage + ": ", 0), 0u)
      << context_error(cfg);
  cfg = tls_config();
  cfg.rsa_private_key_file = Files::get().garbage;
  EXPECT_EQ(context_error(cfg).rfind("rsa_private_key_file " + Files::get().garbage + ": ", 0), 0u)
      << context_error(cfg);
  cfg = tls_config();
  cfg.ca_certs_file = Files::get().garbage;
  EXPECT_EQ(context_error(cfg).rfind("ca_certs_file " + Files::get().garbage + ": ", 0), 0u)
      << context_error(cfg);
}

TEST_F(TlsContext, KeyMismatchIsNamed) {
  Config cfg = tls_config();
  cfg.rsa_private_key_file = Files::get().other_key;
  EXPECT_EQ(context_error(cfg), "rsa_private_key_file " + Files::get().other_key +
                                    ": does not match the certificate in rsa_cert_file " +
                                    Files::get().cert);
}

TEST_F(TlsContext, OptionErrors) {
  Config cfg = tls_config();
  cfg.ssl_tlsv1_2 = false;
  cfg.ssl_tlsv1_3 = false;
  const std::string err = context_error(cfg);
  EXPECT_NE(err.find("ssl_tlsv1_2=NO"), std::string::npos) << err;
  EXPECT_NE(err.find("ssl_tlsv1_3=NO"), std::string::npos) << err;
  cfg = tls_config();
  cfg.ssl_ciphers = "NO-SUCH-CIPHER";
  EXPECT_EQ(context_error(cfg).rfind("ssl_ciphers=NO-SUCH-CIPHER: ", 0), 0u) << context_error(cfg);
  cfg = tls_config();
  cfg.ssl_ciphersuites = "TLS_NO_SUCH_SUITE";
  EXPECT_EQ(context_error(cfg).rfind("ssl_ciphersuites=TLS_NO_SUCH_SUITE: ", 0), 0u)
      << context_error(cfg);
  cfg = tls_config();
  cfg.validate_cert = true;
  EXPECT_NE(context_error(cfg).find("validate_cert=YES needs ca_certs_file"), std::string::npos);
}

TEST_F(TlsContext, ErrorText) {
  ERR_clear_error();
  EXPECT_EQ(tls_error_text(), "unknown TLS error");
  ERR_raise(ERR_LIB_SSL, SSL_R_NO_APPLICATION_PROTOCOL);
  EXPECT_EQ(tls_error_text(), "no application protocol");
  EXPECT_EQ(ERR_peek_error(), 0u);  // cleared
}

// ---- handshakes ------------------------------------------------------------

TEST_F(TlsHandshake, GoodHandshake) {
  auto ctx = server_ctx(tls_config());
  Control c = control(ctx.get(), {});
  ASSERT_TRUE(c.ssl.ok()) << c.ssl.error();
  EXPECT_TRUE(c.client.ok);
  EXPECT_EQ(c.client.line, "220 ok\r\n");
  EXPECT_EQ(c.client.version, "TLSv1.3");
  EXPECT_EQ(c.tag.size(), 16u);
  EXPECT_GE(c.client.tickets, 1);  // tickets are on for the control connection
  Control again = control(ctx.get(), {});
  ASSERT_TRUE(again.ssl.ok());
  EXPECT_NE(again.tag, c.tag);  // a fresh tag per control connection
}

TEST_F(TlsHandshake, OldProtocolsRefusedWhateverTheOptionsSay) {
  Config cfg = tls_config();
  cfg.ssl_tlsv1 = true;
  cfg.ssl_tlsv1_1 = true;
  cfg.ssl_sslv3 = true;
  auto ctx = server_ctx(cfg);
  ClientOptions old;
  old.low_security = true;
  old.min_version = TLS1_VERSION;
  old.max_version = TLS1_1_VERSION;
  Control c = control(ctx.get(), old);
  ASSERT_FALSE(c.ssl.ok());
  EXPECT_NE(c.ssl.error().find("unsupported protocol"), std::string::npos) << c.ssl.error();
  EXPECT_FALSE(c.client.connected);
}

TEST_F(TlsHandshake, ProtocolVersionOptions) {
  Config cfg = tls_config();
  cfg.ssl_tlsv1_3 = false;
  auto only12 = server_ctx(cfg);
  Control c = control(only12.get(), {});
  ASSERT_TRUE(c.ssl.ok()) << c.ssl.error();
  EXPECT_EQ(c.client.version, "TLSv1.2");

  cfg = tls_config();
  cfg.ssl_tlsv1_2 = false;
  auto only13 = server_ctx(cfg);
  ClientOptions tls12;
  tls12.max_version = TLS1_2_VERSION;
  EXPECT_FALSE(control(only13.get(), tls12).ssl.ok());
  Control d = control(only13.get(), {});
  ASSERT_TRUE(d.ssl.ok());
  EXPECT_EQ(d.client.version, "TLSv1.3");
}

TEST_F(TlsHandshake, Alpn) {
  auto ctx = server_ctx(tls_config());
  ClientOptions http;
  http.alpn = "http/1.1";
  Control refused = control(ctx.get(), http);
  ASSERT_FALSE(refused.ssl.ok());
  EXPECT_NE(refused.ssl.error().find("ALPN 'http/1.1'"), std::string::npos) << refused.ssl.error();
  EXPECT_FALSE(refused.client.connected);

  ClientOptions ftp;
  ftp.alpn = "ftp";
  Control ok = control(ctx.get(), ftp);
  ASSERT_TRUE(ok.ssl.ok()) << ok.ssl.error();
  EXPECT_EQ(ok.client.alpn, "ftp");

  ClientOptions both;
  both.alpn = "http/1.1,ftp";
  Control ok2 = control(ctx.get(), both);
  ASSERT_TRUE(ok2.ssl.ok());
  EXPECT_EQ(ok2.client.alpn, "ftp");

  Control none = control(ctx.get(), {});  // curl sends no ALPN
  ASSERT_TRUE(none.ssl.ok());
  EXPECT_EQ(none.client.alpn, "");
}

TEST_F(TlsHandshake, Sni) {
  Config cfg = tls_config();
  cfg.ssl_sni_hostname = "ftp.example.com";
  auto ctx = server_ctx(cfg);
  ClientOptions wrong;
  wrong.sni = "www.example.com";
  Control refused = control(ctx.get(), wrong);
  ASSERT_FALSE(refused.ssl.ok());
  EXPECT_NE(refused.ssl.error().find("SNI 'www.example.com'"), std::string::npos)
      << refused.ssl.error();
  EXPECT_FALSE(refused.client.connected);

  ClientOptions right;
  right.sni = "FTP.Example.COM";  // host names are case-insensitive
  EXPECT_TRUE(control(ctx.get(), right).ssl.ok());
  EXPECT_TRUE(control(ctx.get(), {}).ssl.ok());  // no SNI is fine

  // Without ssl_sni_hostname any name is accepted.
  auto open = server_ctx(tls_config());
  EXPECT_TRUE(control(open.get(), wrong).ssl.ok());
}

TEST_F(TlsHandshake, TimesOut) {
  auto ctx = server_ctx(tls_config());
  Pair p = socket_pair();  // the client never speaks
  auto ssl = tls_accept_control(ctx.get(), p.server.get(), 1);
  ASSERT_FALSE(ssl.ok());
  EXPECT_EQ(ssl.error(), "TLS handshake timed out after 1 s");
}

TEST_F(TlsHandshake, PeerClosesDuringHandshake) {
  auto ctx = server_ctx(tls_config());
  Pair p = socket_pair();
  p.client.reset();
  auto ssl = tls_accept_control(ctx.get(), p.server.get(), 5);
  ASSERT_FALSE(ssl.ok());
  EXPECT_EQ(ssl.error(), "connection closed during the TLS handshake");
}

TEST_F(TlsHandshake, DebugSslLogsRefusals) {
  Config cfg = tls_config();
  cfg.debug_ssl = true;
  auto ctx = server_ctx(cfg);
  ClientOptions http;
  http.alpn = "http/1.1";
  testing::internal::CaptureStderr();
  control(ctx.get(), http);
  control(ctx.get(), {});
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("moatftpd: tls: control handshake failed: refused: client offered ALPN"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("moatftpd: tls: alert sent: fatal no application protocol"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("moatftpd: tls: handshake done: TLSv1.3"), std::string::npos) << log;

  // debug_ssl=NO: silent.
  auto quiet = server_ctx(tls_config());
  testing::internal::CaptureStderr();
  control(quiet.get(), http);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// ---- client certificates -----------------------------------------------------

TEST_F(TlsClientCert, RequireCertWithoutOneFails) {
  Config cfg = tls_config();
  cfg.require_cert = true;
  auto ctx = server_ctx(cfg);
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    ClientOptions o;
    o.min_version = o.max_version = version;
    Control c = control(ctx.get(), o);
    ASSERT_FALSE(c.ssl.ok()) << version;
    EXPECT_NE(c.ssl.error().find("certificate"), std::string::npos) << c.ssl.error();
    EXPECT_FALSE(c.client.ok);
  }
}

TEST_F(TlsClientCert, AnyCertWithoutValidateCert) {
  Config cfg = tls_config();
  cfg.require_cert = true;
  auto ctx = server_ctx(cfg);
  ClientOptions o;
  o.cert = Files::get().stranger_x509;
  o.key = Files::get().stranger_pkey;
  Control c = control(ctx.get(), o);
  ASSERT_TRUE(c.ssl.ok()) << c.ssl.error();
  X509* peer = SSL_get0_peer_certificate(c.ssl->get());
  EXPECT_NE(peer, nullptr);
}

TEST_F(TlsClientCert, ValidateCertAgainstCaCertsFile) {
  Config cfg = tls_config();
  cfg.require_cert = true;
  cfg.validate_cert = true;
  cfg.ca_certs_file = Files::get().client_cert;
  auto ctx = server_ctx(cfg);
  ClientOptions known;
  known.cert = Files::get().client_x509;
  known.key = Files::get().client_pkey;
  Control ok = control(ctx.get(), known);
  EXPECT_TRUE(ok.ssl.ok()) << ok.ssl.error();
  ClientOptions stranger;
  stranger.cert = Files::get().stranger_x509;
  stranger.key = Files::get().stranger_pkey;
  Control refused = control(ctx.get(), stranger);
  ASSERT_FALSE(refused.ssl.ok());
  EXPECT_NE(refused.ssl.error().find("certificate verify failed"), std::string::npos)
      << refused.ssl.error();
}

TEST_F(TlsClientCert, NotRequestedWithSslRequestCertNo) {
  Config cfg = tls_config();
  cfg.ssl_request_cert = false;
  auto ctx = server_ctx(cfg);
  ClientOptions o;
  o.cert = Files::get().client_x509;
  o.key = Files::get().client_pkey;
  Control c = control(ctx.get(), o);
  ASSERT_TRUE(c.ssl.ok());
  EXPECT_EQ(SSL_get0_peer_certificate(c.ssl->get()), nullptr);
  Control asked = control(server_ctx(tls_config()).get(), o);  // the default asks
  ASSERT_TRUE(asked.ssl.ok());
  EXPECT_NE(SSL_get0_peer_certificate(asked.ssl->get()), nullptr);
}

// ---- session reuse -----------------------------------------------------------


TEST_P(TlsResume, TicketFromThisControlConnectionProvesIt) {
  auto ctx = server_ctx(tls_config());
  const int version = GetParam();
  Control a = control(ctx.get(), resuming(nullptr, version));
  ASSERT_TRUE(a.ssl.ok()) << a.ssl.error();
  ASSERT_TRUE(a.client.session);
  Data d = data_connection(ctx.get(), resuming(a.client.session.get(), version), a.tag);
  ASSERT_TRUE(d.handshake);
  EXPECT_TRUE(d.client.reused);
  EXPECT_TRUE(d.proven);
  EXPECT_FALSE(d.other_tag_proven);
  EXPECT_EQ(d.client.line, "data\r\n");
}

TEST_P(TlsResume, FullHandshakeDoesNotProveIt) {
  auto ctx = server_ctx(tls_config());
  const int version = GetParam();
  Control a = control(ctx.get(), resuming(nullptr, version));
  ASSERT_TRUE(a.ssl.ok());
  Data d = data_connection(ctx.get(), resuming(nullptr, version), a.tag);
  ASSERT_TRUE(d.handshake);
  EXPECT_FALSE(d.client.reused);
  EXPECT_FALSE(d.proven);
}

TEST_P(TlsResume, TicketFromAnotherControlConnectionDoesNotProveIt) {
  auto ctx = server_ctx(tls_config());
  const int version = GetParam();
  Control a = control(ctx.get(), resuming(nullptr, version));
  Control b = control(ctx.get(), resuming(nullptr, version));
  ASSERT_TRUE(a.ssl.ok() && b.ssl.ok());
  ASSERT_NE(a.tag, b.tag);
  Data d = data_connection(ctx.get(), resuming(a.client.session.get(), version), b.tag);
  ASSERT_TRUE(d.handshake);
  EXPECT_TRUE(d.client.reused);  // a valid ticket, but not this session's
  EXPECT_FALSE(d.proven);
  EXPECT_FALSE(tls_resumed_control_session(nullptr, a.tag));
}

INSTANTIATE_TEST_SUITE_P(TlsVersions, TlsResume, testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const testing::TestParamInfo<int>& p) {
                           return p.param == TLS1_3_VERSION ? "Tls13" : "Tls12";
                         });

TEST_F(TlsResumeData, DataConnectionsIssueNoTickets) {
  auto ctx = server_ctx(tls_config());
  Control a = control(ctx.get(), {});
  ASSERT_TRUE(a.ssl.ok());
  EXPECT_GE(a.client.tickets, 1);
  Data full = data_connection(ctx.get(), {}, a.tag);
  ASSERT_TRUE(full.handshake);
  EXPECT_EQ(full.client.tickets, 0);
  EXPECT_EQ(full.client.line, "data\r\n");
  Data resumed = data_connection(ctx.get(), resuming(a.client.session.get()), a.tag);
  ASSERT_TRUE(resumed.proven);
  EXPECT_EQ(resumed.client.tickets, 0);
}

// TLS 1.2 without tickets resumes by session id, from the server's session cache. The
// post-login worker is another process whose cache is empty until the control
// session is imported: a second context stands for it here.
TEST_F(TlsResumeData, SessionIdResumptionThroughExportImport) {
  const Config cfg = tls_config();
  auto pre_login = server_ctx(cfg);
  ClientOptions o = resuming(nullptr, TLS1_2_VERSION);
  o.no_ticket = true;
  Control a = control(pre_login.get(), o);
  ASSERT_TRUE(a.ssl.ok()) << a.ssl.error();
  EXPECT_EQ(a.client.tickets, 1);  // the session (by id), no ticket
  const std::string der = tls_export_session(a.ssl->get());
  ASSERT_FALSE(der.empty());

  auto post_login = server_ctx(cfg);
  o.resume = a.client.session.get();
  Data before = data_connection(post_login.get(), o, a.tag);
  ASSERT_TRUE(before.handshake);
  EXPECT_FALSE(before.client.reused);
  EXPECT_FALSE(before.proven);

  tls_import_session(post_login.get(), "garbage");
  tls_import_session(post_login.get(), std::string_view(der).substr(0, der.size() / 2));
  tls_import_session(post_login.get(), "");
  tls_import_session(nullptr, der);
  EXPECT_EQ(ERR_peek_error(), 0u);
  tls_import_session(post_login.get(), der);
  Data after = data_connection(post_login.get(), o, a.tag);
  ASSERT_TRUE(after.handshake);
  EXPECT_TRUE(after.client.reused);
  EXPECT_TRUE(after.proven);
  EXPECT_FALSE(after.other_tag_proven);
}

TEST_F(TlsResumeData, ExportOfNothingIsEmpty) { EXPECT_EQ(tls_export_session(nullptr), ""); }

// ---- kernel TLS ----------------------------------------------------------------

bool kernel_has_tls_ulp() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string word;
  while (in >> word) {
    if (word == "tls") return true;
  }
  return false;
}

TEST_F(TlsKtls, RequestedOnlyWhenTheKernelOffersIt) {
  auto ctx = server_ctx(tls_config());
  SslPtr ssl = tls_new_data_ssl(ctx.get());
  ASSERT_TRUE(ssl);
  EXPECT_EQ((SSL_get_options(ssl.get()) & SSL_OP_ENABLE_KTLS) != 0, kernel_has_tls_ulp());
  EXPECT_FALSE(tls_ktls_send_enabled(ssl.get()));  // no socket yet
  EXPECT_FALSE(tls_ktls_send_enabled(nullptr));
  // Over a socketpair there is never kernel TLS: the fallback path.
  Control c = control(ctx.get(), {});
  Data d = data_connection(ctx.get(), resuming(c.client.session.get()), c.tag);
  EXPECT_TRUE(d.proven);
  EXPECT_FALSE(d.ktls);
}

}  // namespace
}  // namespace moat
