// SPDX-License-Identifier: GPL-2.0-or-later
// The workers' stand-in for the TLS private key. OpenSSL 3.0 still routes a key with
// its own RSA_METHOD / EC_KEY_METHOD (a "foreign" key) through the legacy signing
// code, which hands the method the digest (PKCS#1, ECDSA) or the PSS encoding: the
// smallest hook that keeps the request at "sign this hash". A provider would be the
// OpenSSL 3 way, at several times the code; these APIs are deprecated, not removed.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "core/tls/tls_remote_key.hpp"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <cstring>
#include <optional>

#include "privsep/ipc.hpp"
#include "privsep/key_ops.hpp"

namespace moat {
namespace {

int g_channel = -1;

Result<std::vector<uint8_t>> remote_sign(const KeySignRequest& req) {
  if (g_channel < 0) return fail("no signing channel in this process");
  auto res = ipc_call(g_channel, req);
  if (!res) return fail(res.error());
  if (!res->body.ok) return fail("signature refused");
  return std::move(res->body.signature);
}

std::optional<SignDigest> digest_for_nid(int nid) {
  switch (nid) {
    case NID_sha256: return SignDigest::kSha256;
    case NID_sha384: return SignDigest::kSha384;
    case NID_sha512: return SignDigest::kSha512;
    default: return std::nullopt;
  }
}

std::optional<SignDigest> digest_for_length(int len) {
  switch (len) {
    case 32: return SignDigest::kSha256;
    case 48: return SignDigest::kSha384;
    case 64: return SignDigest::kSha512;
    default: return std::nullopt;
  }
}

// Copies a signature into OpenSSL's buffer of `room` bytes; false when it does not fit.
bool put_signature(const std::vector<uint8_t>& sig, unsigned char* out, size_t room) {
  if (sig.size() > room) return false;
  std::memcpy(out, sig.data(), sig.size());
  return true;
}

// ---- RSA -------------------------------------------------------------------

// PKCS#1 v1.5: RSA_sign() hands over the digest and its type.
int rsa_sign(int type, const unsigned char* m, unsigned int m_len, unsigned char* sigret,
             unsigned int* siglen, const RSA* rsa) {
  auto digest = digest_for_nid(type);
  if (!digest) return 0;
  auto sig = remote_sign({SignScheme::kRsaPkcs1, *digest, {m, m + m_len}});
  if (!sig || !put_signature(*sig, sigret, static_cast<size_t>(RSA_size(rsa)))) return 0;
  *siglen = static_cast<unsigned int>(sig->size());
  return 1;
}

// PSS: OpenSSL encodes, then asks for the raw private operation on the encoding. Only
// that is forwarded, as a PSS request the helper checks.
int rsa_priv_enc(int flen, const unsigned char* from, unsigned char* to, RSA* rsa, int padding) {
  const int size = RSA_size(rsa);
  if (padding != RSA_NO_PADDING || flen != size) return -1;
  std::span<const uint8_t> encoded(from, static_cast<size_t>(flen));
  auto digest = pss_digest_of(encoded, RSA_bits(rsa));
  if (!digest) return -1;
  auto sig = remote_sign({SignScheme::kRsaPss, *digest, {encoded.begin(), encoded.end()}});
  if (!sig || sig->size() != static_cast<size_t>(size)) return -1;
  put_signature(*sig, to, static_cast<size_t>(size));
  return size;
}

int rsa_refuse_decrypt(int, const unsigned char*, unsigned char*, RSA*, int) { return -1; }

const RSA_METHOD* rsa_method() {
  static RSA_METHOD* meth = [] {
    RSA_METHOD* m = RSA_meth_dup(RSA_PKCS1_OpenSSL());
    if (m == nullptr) return m;
    RSA_meth_set1_name(m, "moatftpd remote key");
    RSA_meth_set_sign(m, rsa_sign);
    RSA_meth_set_priv_enc(m, rsa_priv_enc);
    RSA_meth_set_priv_dec(m, rsa_refuse_decrypt);
    return m;
  }();
  return meth;
}

// ---- EC --------------------------------------------------------------------

int ec_sign(int, const unsigned char* dgst, int dlen, unsigned char* sig, unsigned int* siglen,
            const BIGNUM*, const BIGNUM*, EC_KEY* eckey) {
  auto digest = digest_for_length(dlen);
  if (!digest) return 0;
  auto der = remote_sign({SignScheme::kEcdsa, *digest, {dgst, dgst + dlen}});
  if (!der || !put_signature(*der, sig, static_cast<size_t>(ECDSA_size(eckey)))) return 0;
  *siglen = static_cast<unsigned int>(der->size());
  return 1;
}

int ec_refuse_setup(EC_KEY*, BN_CTX*, BIGNUM**, BIGNUM**) { return 0; }

ECDSA_SIG* ec_refuse_sign_sig(const unsigned char*, int, const BIGNUM*, const BIGNUM*, EC_KEY*) {
  return nullptr;
}

const EC_KEY_METHOD* ec_method() {
  static EC_KEY_METHOD* meth = [] {
    EC_KEY_METHOD* m = EC_KEY_METHOD_new(EC_KEY_get_default_method());
    if (m != nullptr) EC_KEY_METHOD_set_sign(m, ec_sign, ec_refuse_setup, ec_refuse_sign_sig);
    return m;
  }();
  return meth;
}

// ---- the stand-in key --------------------------------------------------------

Result<RemoteKeyPtr> rsa_stand_in(EVP_PKEY* pub) {
  RSA* rsa = EVP_PKEY_get1_RSA(pub);  // a public-only legacy copy
  RemoteKeyPtr key(EVP_PKEY_new());
  if (rsa == nullptr || !key || rsa_method() == nullptr || RSA_set_method(rsa, rsa_method()) != 1 ||
      EVP_PKEY_assign_RSA(key.get(), rsa) != 1) {
    RSA_free(rsa);
    return fail("cannot make the RSA stand-in key");
  }
  return key;
}

Result<RemoteKeyPtr> ec_stand_in(EVP_PKEY* pub) {
  EC_KEY* ec = EVP_PKEY_get1_EC_KEY(pub);
  RemoteKeyPtr key(EVP_PKEY_new());
  if (ec == nullptr || !key || ec_method() == nullptr || EC_KEY_set_method(ec, ec_method()) != 1 ||
      EVP_PKEY_assign_EC_KEY(key.get(), ec) != 1) {
    EC_KEY_free(ec);
    return fail("cannot make the EC stand-in key");
  }
  return key;
}

}  // namespace

Result<RemoteKeyPtr> remote_key_for(X509* cert) {
  EVP_PKEY* pub = cert ? X509_get0_pubkey(cert) : nullptr;
  if (pub == nullptr) return fail("the certificate has no public key");
  Result<RemoteKeyPtr> key = fail("the certificate's key is neither RSA nor EC (ECDSA)");
  if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) key = rsa_stand_in(pub);
  if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) key = ec_stand_in(pub);
  ERR_clear_error();
  return key;
}

void remote_key_set_channel(int fd) { g_channel = fd; }

}  // namespace moat
