// SPDX-License-Identifier: GPL-2.0-or-later
// Reading rsa_private_key_file: only the session's key holder keeps what it reads; the
// master checks the file in a throwaway child so that no process that forks a worker
// ever has the key in its memory.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "core/common/config.hpp"
#include "core/common/util.hpp"

namespace moat {

struct KeyFileFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PrivateKeyPtr = std::unique_ptr<EVP_PKEY, KeyFileFree>;

// rsa_private_key_file, or rsa_cert_file when it is empty (the key in the cert file).
const std::string& tls_key_path(const Config& cfg);

// The unencrypted private key in path, which must match cert's public key (read from
// cert_path). Errors name
// the file: "rsa_private_key_file /x.key: No such file or directory".
Result<PrivateKeyPtr> tls_load_key_file(const std::string& path, X509* cert,
                                         const std::string& cert_path);

// tls_load_key_file in a forked child that reports only the error text: the caller's
// memory never holds the key (start-up, -t and SIGHUP still name a bad file).
Status tls_check_key_file(const std::string& path, X509* cert, const std::string& cert_path);

}  // namespace moat
