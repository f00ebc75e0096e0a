// SPDX-License-Identifier: GPL-2.0-or-later
// The server's private key as the workers see it: the certificate's public key whose
// private operation, the handshake signature, is a request to the session helper.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

#include "core/common/util.hpp"

namespace moat {

struct RemoteKeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using RemoteKeyPtr = std::unique_ptr<EVP_PKEY, RemoteKeyFree>;

// A key with only cert's public half (RSA or EC), for SSL_CTX_use_PrivateKey. Its RSA
// PKCS#1 and PSS signatures and ECDSA signatures go out as KeySign requests; RSA
// decryption and every other private operation fail (RSA key exchange is off).
Result<RemoteKeyPtr> remote_key_for(X509* cert);

// The IPC socket this process's signing requests go to: a worker's helper_fd; -1 (the
// default, and in the master, helper and relay) makes every signature fail.
void remote_key_set_channel(int fd);

}  // namespace moat
