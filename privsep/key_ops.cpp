// SPDX-License-Identifier: GPL-2.0-or-later
// The TLS signing request: its codec, the checks that keep it a handshake signature
// (never a decryption), and the signing with the real key in the key holder.
#include "privsep/key_ops.hpp"

#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>

#include "privsep/ipc.hpp"

namespace moat {
namespace {

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

size_t digest_size(SignDigest d) { return static_cast<size_t>(EVP_MD_get_size(sign_digest_md(d))); }

// RFC 8017 B.2.1: the mask, Hash(seed || counter) for counter 0, 1, ... (OpenSSL's
// PKCS1_MGF1 is deprecated).
bool mgf1(std::span<uint8_t> mask, std::span<const uint8_t> seed, const EVP_MD* md) {
  const size_t h_len = static_cast<size_t>(EVP_MD_get_size(md));
  std::vector<uint8_t> block(seed.begin(), seed.end());
  block.resize(seed.size() + 4);
  uint8_t out[EVP_MAX_MD_SIZE];
  for (uint32_t counter = 0; counter * h_len < mask.size(); ++counter) {
    for (int i = 0; i < 4; ++i) block[seed.size() + i] = static_cast<uint8_t>(counter >> (24 - 8 * i));
    if (EVP_Digest(block.data(), block.size(), out, nullptr, md, nullptr) != 1) return false;
    const size_t at = counter * h_len;
    std::copy_n(out, std::min(h_len, mask.size() - at), mask.begin() + static_cast<long>(at));
  }
  return true;
}

// RFC 8017 9.1.2 (EMSA-PSS-VERIFY) without the message: the layout, the zero padding
// and the 0x01 separator, with a salt as long as the digest.
Status check_pss(std::span<const uint8_t> input, SignDigest digest, int modulus_bits) {
  if (modulus_bits < 1024 || input.size() != static_cast<size_t>((modulus_bits + 7) / 8))
    return fail("PSS input is not as long as the modulus");
  const size_t em_bits = static_cast<size_t>(modulus_bits) - 1;
  std::span<const uint8_t> em = input;
  if (em_bits % 8 == 0) {  // the encoding is one byte shorter than the modulus
    if (em[0] != 0) return fail("PSS input above the modulus");
    em = em.subspan(1);
  }
  const size_t h_len = digest_size(digest);
  const uint8_t top_mask = static_cast<uint8_t>(0xff >> (8 * em.size() - em_bits));
  if (em.size() < 2 * h_len + 2 || em.back() != 0xbc || (em[0] & ~top_mask) != 0)
    return fail("not a PSS encoding");
  const size_t db_len = em.size() - h_len - 1;
  std::vector<uint8_t> db(db_len);
  if (!mgf1(db, em.subspan(db_len, h_len), sign_digest_md(digest))) return fail("MGF1 failed");
  for (size_t i = 0; i < db_len; ++i) db[i] ^= em[i];
  db[0] &= top_mask;
  const size_t separator = db_len - h_len - 1;
  for (size_t i = 0; i < separator; ++i)
    if (db[i] != 0) return fail("not a PSS encoding (padding)");
  if (db[separator] != 0x01) return fail("not a PSS encoding (separator)");
  return Ok{};
}

Status set_sign_params(EVP_PKEY_CTX* c, const KeySignRequest& req) {
  int ok = 1;
  if (req.scheme == SignScheme::kRsaPss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING);  // input is the checked encoding
  } else {
    if (req.scheme == SignScheme::kRsaPkcs1) ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
    if (ok > 0) ok = EVP_PKEY_CTX_set_signature_md(c, sign_digest_md(req.digest));
  }
  return ok > 0 ? Status(Ok{}) : fail("signature parameters refused");
}

}  // namespace

const EVP_MD* sign_digest_md(SignDigest d) {
  switch (d) {
    case SignDigest::kSha256: return EVP_sha256();
    case SignDigest::kSha384: return EVP_sha384();
    case SignDigest::kSha512: return EVP_sha512();
  }
  return EVP_sha256();
}

Status IpcLayout<KeySignResult>::check(const KeySignResult& m) {
  if (!m.ok && !m.signature.empty()) return fail("malformed signature result");
  return Ok{};
}

Status key_sign_check(const KeySignRequest& req, const EVP_PKEY* key) {
  const int type = EVP_PKEY_get_base_id(key);
  const bool rsa_scheme = req.scheme != SignScheme::kEcdsa;
  if (rsa_scheme ? type != EVP_PKEY_RSA : type != EVP_PKEY_EC)
    return fail("signature scheme does not fit the key");
  if (req.scheme == SignScheme::kRsaPss) return check_pss(req.input, req.digest, EVP_PKEY_get_bits(key));
  if (req.input.size() != digest_size(req.digest)) return fail("digest of the wrong length");
  return Ok{};
}

Result<std::vector<uint8_t>> key_sign(EVP_PKEY* key, const KeySignRequest& req) {
  if (auto st = key_sign_check(req, key); !st) return fail(st.error());
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> c(EVP_PKEY_CTX_new(key, nullptr));
  if (!c || EVP_PKEY_sign_init(c.get()) <= 0) return fail("EVP_PKEY_sign_init failed");
  if (auto st = set_sign_params(c.get(), req); !st) return fail(st.error());
  size_t len = 0;
  if (EVP_PKEY_sign(c.get(), nullptr, &len, req.input.data(), req.input.size()) <= 0 ||
      len > kMaxSignature)
    return fail("EVP_PKEY_sign failed");
  std::vector<uint8_t> sig(len);
  if (EVP_PKEY_sign(c.get(), sig.data(), &len, req.input.data(), req.input.size()) <= 0) {
    ERR_clear_error();
    return fail("EVP_PKEY_sign failed");
  }
  sig.resize(len);
  return sig;
}

Result<SignDigest> pss_digest_of(std::span<const uint8_t> encoded, int modulus_bits) {
  for (SignDigest d : {SignDigest::kSha256, SignDigest::kSha384, SignDigest::kSha512})
    if (check_pss(encoded, d, modulus_bits)) return d;
  return fail("not a PSS encoding with SHA-256, SHA-384 or SHA-512");
}

}  // namespace moat
