// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for the TLS signing request (privsep/key_ops) and the workers' stand-in key
// (core/tls_remote_key): the codec, the checks that keep a request a handshake
// signature, and that SSL_CTX_get0_privatekey() in a worker yields no private part.
#include "privsep/key_ops.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "core/tls/tls_remote_key.hpp"
#include "tests/unit/tls_test_util.hpp"

namespace moat {
namespace {

using Bytes = std::vector<uint8_t>;
using tls_test::Material;

class KeyOps : public tls_test::WithFiles {};

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

// The PSS encoding OpenSSL would hand the stand-in key: sign for real, then undo the
// RSA operation with the public key.
Bytes pss_encoding(EVP_PKEY* key, const Bytes& digest) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> c(EVP_PKEY_CTX_new(key, nullptr));
  EVP_PKEY_sign_init(c.get());
  EVP_PKEY_CTX_set_rsa_padding(c.get(), RSA_PKCS1_PSS_PADDING);
  EVP_PKEY_CTX_set_rsa_pss_saltlen(c.get(), RSA_PSS_SALTLEN_DIGEST);
  EVP_PKEY_CTX_set_signature_md(c.get(), EVP_sha256());
  Bytes sig(static_cast<size_t>(EVP_PKEY_get_size(key)));
  size_t len = sig.size();
  EXPECT_EQ(EVP_PKEY_sign(c.get(), sig.data(), &len, digest.data(), digest.size()), 1);
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> v(EVP_PKEY_CTX_new(key, nullptr));
  EVP_PKEY_verify_recover_init(v.get());
  EVP_PKEY_CTX_set_rsa_padding(v.get(), RSA_NO_PADDING);
  Bytes em(sig.size());
  len = em.size();
  EXPECT_EQ(EVP_PKEY_verify_recover(v.get(), em.data(), &len, sig.data(), sig.size()), 1);
  em.resize(len);
  return em;
}

TEST_F(KeyOps, RequestRoundTripsAndBadOnesAreRefused) {
  KeySignRequest req{SignScheme::kEcdsa, SignDigest::kSha384, Bytes(48, 7)};
  auto back = decode<KeySignRequest>(encode(req));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->scheme, SignScheme::kEcdsa);
  EXPECT_EQ(back->digest, SignDigest::kSha384);
  EXPECT_EQ(back->input, req.input);
  Bytes bytes = encode(req);
  bytes[0] = 4;  // no such scheme
  EXPECT_FALSE(decode<KeySignRequest>(bytes).ok());
  bytes = encode(req);
  bytes[1] = 0;  // no such digest
  EXPECT_FALSE(decode<KeySignRequest>(bytes).ok());
  bytes = encode(req);
  bytes.push_back(0);
  EXPECT_FALSE(decode<KeySignRequest>(bytes).ok());
  EXPECT_FALSE(decode<KeySignRequest>(encode(KeySignRequest{SignScheme::kRsaPss,
                                        SignDigest::kSha256, Bytes(kMaxSignInput + 1)})).ok());
  EXPECT_FALSE(decode<KeySignResult>(Bytes{0, 1, 0, 0, 0, 9}).ok());  // refused, with bytes
}

TEST_F(KeyOps, DigestLengthAndSchemeMustFitTheKey) {
  EVP_PKEY* rsa = Material::get().rsa.get();
  EVP_PKEY* ec = Material::get().ec.get();
  EXPECT_TRUE(key_sign_check({SignScheme::kRsaPkcs1, SignDigest::kSha256, Bytes(32)}, rsa).ok());
  EXPECT_FALSE(key_sign_check({SignScheme::kRsaPkcs1, SignDigest::kSha256, Bytes(48)}, rsa).ok());
  EXPECT_FALSE(key_sign_check({SignScheme::kEcdsa, SignDigest::kSha256, Bytes(32)}, rsa).ok());
  EXPECT_TRUE(key_sign_check({SignScheme::kEcdsa, SignDigest::kSha512, Bytes(64)}, ec).ok());
  EXPECT_FALSE(key_sign_check({SignScheme::kEcdsa, SignDigest::kSha512, Bytes(32)}, ec).ok());
  EXPECT_FALSE(key_sign_check({SignScheme::kRsaPkcs1, SignDigest::kSha256, Bytes(32)}, ec).ok());
}

// A PSS request is signed only when it is a PSS encoding: anything else, such as a
// ciphertext someone wants decrypted, is refused.
TEST_F(KeyOps, OnlyPssEncodingsAreSignedRaw) {
  EVP_PKEY* rsa = Material::get().rsa.get();
  const Bytes em = pss_encoding(rsa, Bytes(32, 0x5a));
  auto digest = pss_digest_of(em, EVP_PKEY_get_bits(rsa));
  ASSERT_TRUE(digest.ok()) << digest.error();
  EXPECT_EQ(*digest, SignDigest::kSha256);
  auto sig = key_sign(rsa, {SignScheme::kRsaPss, SignDigest::kSha256, em});
  ASSERT_TRUE(sig.ok()) << sig.error();
  EXPECT_FALSE(key_sign(rsa, {SignScheme::kRsaPss, SignDigest::kSha384, em}).ok());
  Bytes tampered = em;
  tampered[em.size() / 3] ^= 1;  // the padding no longer unmasks to zeros
  EXPECT_FALSE(key_sign(rsa, {SignScheme::kRsaPss, SignDigest::kSha256, tampered}).ok());
  Bytes random(em.size());
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<uint8_t>(i * 37 + 11);
  random[0] = 0x12;
  random.back() = 0xbc;
  EXPECT_FALSE(key_sign(rsa, {SignScheme::kRsaPss, SignDigest::kSha256, random}).ok());
  EXPECT_FALSE(pss_digest_of(random, EVP_PKEY_get_bits(rsa)).ok());
}

// What a compromised worker finds in its SSL_CTX: the public key, and no way to a
// private number, in any encoding.
TEST_F(KeyOps, TheContextsKeyHasNoPrivatePart) {
  auto ctx = tls_test::server_ctx(tls_test::tls_config());
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx.get());
  ASSERT_NE(key, nullptr);
  BIGNUM* d = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &d), 0);
  BN_free(d);
  EXPECT_LE(i2d_PrivateKey(key, nullptr), 0);
  EXPECT_EQ(EVP_PKEY_eq(key, Material::get().rsa.get()), 1);  // the same public key
  ERR_clear_error();
}

// Without a channel to a signer (the master, the helper, the relay) nothing signs.
TEST_F(KeyOps, NoChannelNoSignature) {
  auto key = remote_key_for(Material::get().server.get());
  ASSERT_TRUE(key.ok()) << key.error();
  remote_key_set_channel(-1);
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> c(EVP_PKEY_CTX_new(key->get(), nullptr));
  ASSERT_EQ(EVP_PKEY_sign_init(c.get()), 1);
  EVP_PKEY_CTX_set_rsa_padding(c.get(), RSA_PKCS1_PADDING);
  EVP_PKEY_CTX_set_signature_md(c.get(), EVP_sha256());
  Bytes digest(32, 1), sig(256);
  size_t len = sig.size();
  EXPECT_LE(EVP_PKEY_sign(c.get(), sig.data(), &len, digest.data(), digest.size()), 0);
  ERR_clear_error();
}

}  // namespace
}  // namespace moat
