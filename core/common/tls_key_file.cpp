// SPDX-License-Identifier: GPL-2.0-or-later
// Loading and checking the TLS private key file (see tls_key_file.hpp for who may).
#include "core/common/tls_key_file.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace moat {
namespace {

constexpr size_t kMaxErrorText = 4096;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// A key file with a pass phrase must fail, never prompt on the master's terminal.
int no_password(char*, int, int, void*) { return 0; }

std::string file_error(const std::string& path, std::string_view why) {
  return "rsa_private_key_file " + path + ": " + std::string(why);
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    out += (out.empty() ? "" : "; ") + std::string(reason ? reason : "OpenSSL error");
  }
  return out.empty() ? "unknown error" : out;
}

void write_all(int fd, const std::string& text) {
  std::string_view left(text);
  while (!left.empty()) {
    const ssize_t n = ::write(fd, left.data(), left.size());
    if (n <= 0 && errno != EINTR) return;
    if (n > 0) left.remove_prefix(static_cast<size_t>(n));
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() > kMaxErrorText) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<PrivateKeyPtr> tls_load_key_file(const std::string& path, X509* cert,
                                         const std::string& cert_path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));  // errno beats OpenSSL's words
  if (!fd) return fail(file_error(path, errno_text(errno)));
  fd.reset();
  ERR_clear_error();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return fail(file_error(path, openssl_errors()));
  PrivateKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) return fail(file_error(path, "no unencrypted private key found (" + openssl_errors() + ")"));
  EVP_PKEY* pub = cert ? X509_get0_pubkey(cert) : nullptr;
  if (pub == nullptr || EVP_PKEY_eq(key.get(), pub) != 1) {
    ERR_clear_error();
    return fail(file_error(path, "does not match the certificate in rsa_cert_file " + cert_path));
  }
  return key;
}

Status tls_check_key_file(const std::string& path, X509* cert, const std::string& cert_path) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail("pipe: " + errno_text(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return fail("fork: " + errno_text(errno));
  if (pid == 0) {
    auto key = tls_load_key_file(path, cert, cert_path);
    if (!key) write_all(wr.get(), key.error());
    ::_exit(key ? 0 : 1);
  }
  wr.reset();
  std::string error = read_all(rd.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok{};
  return fail(error.empty() ? file_error(path, "the key check failed") : error);
}

const std::string& tls_key_path(const Config& cfg) {
  return cfg.rsa_private_key_file.empty() ? cfg.rsa_cert_file : cfg.rsa_private_key_file;
}

}  // namespace moat
