// SPDX-License-Identifier: GPL-2.0-or-later
// Test support for the Tls* suites: throwaway keys and certificates written to a temp
// directory, server configs that use them, and a scriptable TLS client.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/common/config.hpp"
#include "core/tls/tls.hpp"
#include "core/tls/tls_remote_key.hpp"
#include "privsep/ipc.hpp"
#include "privsep/key_ops.hpp"
#include "core/common/util.hpp"

namespace moat::tls_test {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

inline X509Ptr self_signed(EVP_PKEY* key, const char* cn, long serial) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_sign(x.get(), key, EVP_sha256());
  return x;
}

inline void write_pem(const std::string& path, X509* cert, EVP_PKEY* key, bool append = false) {
  FILE* f = std::fopen(path.c_str(), append ? "a" : "w");
  if (f == nullptr) std::abort();
  if (cert != nullptr) PEM_write_X509(f, cert);
  if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// Keys and certificates, made once per test process: an RSA key takes a while.
struct Material {
  PkeyPtr rsa, ec, client_key, stranger_key;
  X509Ptr server, client, stranger;

  static const Material& get() {
    static const Material m;
    return m;
  }

 private:
  Material()
      : rsa(EVP_RSA_gen(2048)), ec(EVP_EC_gen("P-256")), client_key(EVP_EC_gen("P-256")),
        stranger_key(EVP_EC_gen("P-256")) {
    server = self_signed(rsa.get(), "localhost", 1);
    client = self_signed(client_key.get(), "client", 2);
    stranger = self_signed(stranger_key.get(), "stranger", 3);
  }
};

// The material as PEM files in a directory under $TMPDIR that lives as long as one
// test suite (other suites check that they leave $TMPDIR empty).
struct Files {
  std::string dir;
  std::string cert, key;  // server: RSA 2048, CN=localhost
  std::string combined;   // cert then key in one file
  std::string other_key;  // an EC key that matches nothing
  std::string garbage;    // not PEM at all
  std::string client_cert, client_key;      // self-signed client (its own CA)
  std::string stranger_cert, stranger_key;  // another self-signed client
  X509* client_x509 = nullptr;
  EVP_PKEY* client_pkey = nullptr;
  X509* stranger_x509 = nullptr;
  EVP_PKEY* stranger_pkey = nullptr;

  static const Files& get() {
    if (!current()) std::abort();  // only inside a suite derived from WithFiles
    return *current();
  }
  static void create() { current().reset(new Files()); }
  static void destroy() { current().reset(); }

  Files(const Files&) = delete;
  Files& operator=(const Files&) = delete;
  ~Files() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

 private:
  static std::unique_ptr<Files>& current() {
    static std::unique_ptr<Files> files;
    return files;
  }

  Files() {
    const Material& m = Material::get();
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/moat-tls-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    combined = dir + "/combined.pem";
    other_key = dir + "/other.key";
    garbage = dir + "/garbage.pem";
    client_cert = dir + "/client.pem";
    client_key = dir + "/client.key";
    stranger_cert = dir + "/stranger.pem";
    stranger_key = dir + "/stranger.key";
    write_pem(cert, m.server.get(), nullptr);
    write_pem(key, nullptr, m.rsa.get());
    write_pem(combined, m.server.get(), nullptr);
    write_pem(combined, nullptr, m.rsa.get(), true);
    write_pem(other_key, nullptr, m.ec.get());
    FILE* g = std::fopen(garbage.c_str(), "w");
    if (g == nullptr) std::abort();
    std::fputs("this is not a certificate\n", g);
    std::fclose(g);
    write_pem(client_cert, m.client.get(), nullptr);
    write_pem(client_key, nullptr, m.client_key.get());
    write_pem(stranger_cert, m.stranger.get(), nullptr);
    write_pem(stranger_key, nullptr, m.stranger_key.get());
    client_x509 = m.client.get();
    client_pkey = m.client_key.get();
    stranger_x509 = m.stranger.get();
    stranger_pkey = m.stranger_key.get();
  }
};

// The session helper's part in a handshake: answers the stand-in key's KeySign
// requests (core/tls/tls_remote_key.hpp) with the server's RSA key, from a child process.
// Not a thread: the code under test forks (the key-file check), and a fork while
// another thread may hold the allocator's lock can leave the child stuck in malloc.
class LocalSigner {
 public:
  LocalSigner() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    mine_.reset(sv[0]);
    UniqueFd theirs(sv[1]);
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      mine_.reset();
      serve(theirs.get());
      ::_exit(0);
    }
    remote_key_set_channel(mine_.get());
  }
  ~LocalSigner() {
    remote_key_set_channel(-1);
    mine_.reset();  // the child's ipc_recv sees the end
    ::waitpid(pid_, nullptr, 0);
  }
  LocalSigner(const LocalSigner&) = delete;
  LocalSigner& operator=(const LocalSigner&) = delete;

 private:
  static void serve(int fd) {
    for (;;) {
      auto msg = ipc_recv(fd);
      if (!msg) return;
      KeySignResult res;
      if (auto req = decode<KeySignRequest>(msg->payload); req) {
        auto sig = key_sign(Material::get().rsa.get(), *req);
        res.ok = sig.ok();
        if (sig) res.signature = *sig;
      }
      if (!ipc_send(fd, MsgType::kKeySignResult, encode(res))) return;
    }
  }
  UniqueFd mine_;
  pid_t pid_ = -1;
};

// Base of every Tls* suite: the files exist while the suite runs, and a signer
// answers for the key.
class WithFiles : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    Files::create();
    signer().reset(new LocalSigner());
  }
  static void TearDownTestSuite() {
    signer().reset();
    Files::destroy();
  }

 private:
  static std::unique_ptr<LocalSigner>& signer() {
    static std::unique_ptr<LocalSigner> s;
    return s;
  }
};

inline Config tls_config() {
  Config cfg;
  cfg.ssl_enable = true;
  cfg.rsa_cert_file = Files::get().cert;
  cfg.rsa_private_key_file = Files::get().key;
  return cfg;
}

inline std::shared_ptr<SSL_CTX> server_ctx(const Config& cfg) {
  auto ctx = tls_server_context(cfg);
  if (!ctx) {
    std::fprintf(stderr, "tls_server_context: %s\n", ctx.error().c_str());
    std::abort();
  }
  return *ctx;
}

// Both ends of an in-process "TCP" connection; reads give up after a few seconds so
// that a broken relay fails the test instead of hanging it.
struct Pair {
  UniqueFd server, client;
};

inline void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline Pair socket_pair() {
  // As in the server (the master ignores SIGPIPE and every process inherits that): a
  // handshake that fails against a closed peer still tries to send its alert.
  std::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  set_timeouts(fds[0], 10);
  set_timeouts(fds[1], 10);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct ClientOptions {
  int min_version = 0;  // 0: the client library's default
  int max_version = 0;
  bool low_security = false;  // let the client offer TLS 1.1 (seclevel 0)
  std::string alpn;           // comma-separated; empty: no ALPN extension
  std::string sni;            // empty: no SNI
  SSL_SESSION* resume = nullptr;
  bool no_ticket = false;  // TLS 1.2 session-id resumption only
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
};

struct ClientOutcome {
  bool connected = false;  // SSL_connect succeeded
  bool ok = false;         // ... and the server's line arrived
  bool reused = false;
  std::string line;     // what the server sent
  std::string alpn;     // selected protocol
  std::string version;  // "TLSv1.3"
  int tickets = 0;      // sessions the client could keep (TLS 1.3: NewSessionTicket)
  SessionPtr session;
};

inline int count_ticket(SSL* ssl, SSL_SESSION*) {
  auto* n = static_cast<int*>(SSL_get_app_data(ssl));
  if (n != nullptr) ++*n;
  return 0;  // we did not keep a reference
}

inline std::string alpn_wire(const std::string& list) {
  std::string wire;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string proto = list.substr(start, comma - start);
    wire += static_cast<char>(proto.size());
    wire += proto;
    start = comma + 1;
  }
  return wire;
}

inline CtxPtr client_ctx(const ClientOptions& o) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (o.low_security) {
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  if (o.min_version) SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (o.no_ticket) SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx.get(), count_ticket);
  if (o.cert != nullptr) {
    SSL_CTX_use_certificate(ctx.get(), o.cert);
    SSL_CTX_use_PrivateKey(ctx.get(), o.key);
  }
  return ctx;
}

// A client SSL on fd, set up but not connected.
inline SslPtr client_ssl(SSL_CTX* ctx, int fd, const ClientOptions& o, int* tickets) {
  SslPtr ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_app_data(ssl.get(), tickets);
  if (!o.alpn.empty()) {
    const std::string wire = alpn_wire(o.alpn);
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl.get(), o.sni.c_str());
  if (o.resume != nullptr) SSL_set_session(ssl.get(), o.resume);
  return ssl;
}

// Connects, reads one line from the server (so that TLS 1.3 tickets are in), keeps the
// session, then waits for the server's close_notify and answers it.
inline ClientOutcome run_client(int fd, const ClientOptions& o) {
  ClientOutcome out;
  CtxPtr ctx = client_ctx(o);
  SslPtr ssl = client_ssl(ctx.get(), fd, o, &out.tickets);
  if (SSL_connect(ssl.get()) != 1) {
    ERR_clear_error();
    return out;
  }
  out.connected = true;
  char buf[256];
  const int n = SSL_read(ssl.get(), buf, sizeof buf);
  if (n > 0) out.line.assign(buf, static_cast<std::size_t>(n));
  out.ok = n > 0;
  out.reused = SSL_session_reused(ssl.get()) == 1;
  out.version = SSL_get_version(ssl.get());
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
  out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  out.session.reset(SSL_get1_session(ssl.get()));
  if (out.ok) {
    while (SSL_read(ssl.get(), buf, sizeof buf) > 0) {
    }
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  return out;
}

// Runs a client on pair.client in a thread while the caller plays the server.
class ClientThread {
 public:
  ClientThread(int fd, ClientOptions o) : thread_([this, fd, o] { outcome_ = run_client(fd, o); }) {}
  ~ClientThread() {
    if (thread_.joinable()) thread_.join();
  }
  ClientThread(const ClientThread&) = delete;
  ClientThread& operator=(const ClientThread&) = delete;
  ClientOutcome& join() {
    if (thread_.joinable()) thread_.join();
    return outcome_;
  }

 private:
  ClientOutcome outcome_;
  std::thread thread_;
};

// The server's part of a successful exchange: a line, then close_notify.
inline void serve_line(SSL* ssl, const std::string& line) {
  SSL_write(ssl, line.data(), static_cast<int>(line.size()));
  SSL_shutdown(ssl);
}

}  // namespace moat::tls_test
