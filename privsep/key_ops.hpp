// SPDX-License-Identifier: GPL-2.0-or-later
// The one private-key operation a TLS handshake needs, as a request: what a worker may
// ask the session helper to sign, the strict decoder, the checks both the helper and
// the key holder apply, and the signing itself (DESIGN: the key never in a worker).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/common/util.hpp"
#include "privsep/ipc.hpp"

namespace moat {

// What is signed. A handshake signs a digest (PKCS#1 v1.5, ECDSA) or, for RSA-PSS, the
// PSS encoding OpenSSL made of the digest (OpenSSL's RSA_METHOD sees only that); no
// other private operation exists here (RSA decryption, raw RSA on arbitrary input).
enum class SignScheme : uint8_t { kRsaPkcs1 = 1, kRsaPss = 2, kEcdsa = 3 };
enum class SignDigest : uint8_t { kSha256 = 1, kSha384 = 2, kSha512 = 3 };

constexpr size_t kMaxSignInput = 1024;      // a PSS encoding of an 8192-bit modulus
constexpr size_t kMaxSignature = 1024;

struct KeySignRequest {
  SignScheme scheme{};
  SignDigest digest{};
  std::vector<uint8_t> input;  // the digest, or the RSA_size()-byte PSS encoding
};

struct KeySignResult {
  bool ok = false;
  std::vector<uint8_t> signature;  // empty unless ok
};

template <>
struct IpcLayout<KeySignRequest> {
  static constexpr MsgType type = MsgType::kKeySign;
  using Reply = KeySignResult;
  static constexpr auto fields =
      std::tuple{wire::Enum8{&KeySignRequest::scheme, 1, 3, "signature scheme"},
                 wire::Enum8{&KeySignRequest::digest, 1, 3, "digest"},
                 wire::Blob{&KeySignRequest::input, kMaxSignInput}};
};
template <>
struct IpcLayout<KeySignResult> {
  static constexpr MsgType type = MsgType::kKeySignResult;
  static constexpr auto fields = std::tuple{wire::Bool{&KeySignResult::ok},
                                            wire::Blob{&KeySignResult::signature, kMaxSignature}};
  static Status check(const KeySignResult& m);  // a signature only with ok
};

const EVP_MD* sign_digest_md(SignDigest d);

// The request fits this key (only the public part is read): scheme for its type, input
// as long as the digest (PKCS#1, ECDSA) or the modulus (PSS), and a PSS input a
// well-formed encoding (salt as long as the digest, as TLS uses) so that it can never
// be a ciphertext to decrypt.
Status key_sign_check(const KeySignRequest& req, const EVP_PKEY* key);

// Checks, then signs with the private key: the signature bytes as TLS sends them.
Result<std::vector<uint8_t>> key_sign(EVP_PKEY* key, const KeySignRequest& req);

// The digest a PSS encoding was made with, found by checking it against each; the
// worker's RSA_METHOD needs it, since OpenSSL hands it the encoding alone.
Result<SignDigest> pss_digest_of(std::span<const uint8_t> encoded, int modulus_bits);

}  // namespace moat
