// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the TLS signing request and result decoders (privsep/key_ops), with
// the round-trip check, and the checks the helper applies to whatever decodes: against
// an RSA and an EC key, and the PSS-encoding test that guards the raw RSA operation.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "privsep/key_ops.hpp"

namespace {

using Span = std::span<const uint8_t>;

struct Keys {
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  EVP_PKEY* ec = EVP_EC_gen("P-256");
};

const Keys& keys() {
  static const Keys k;
  return k;
}

template <class T>
void check_round_trip(const moat::Result<T>& m, Span input) {
  if (!m.ok()) return;
  const std::vector<uint8_t> again = moat::encode(*m);
  if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin()))
    abort();
}

void check_request(const moat::KeySignRequest& req) {
  const bool rsa_ok = moat::key_sign_check(req, keys().rsa).ok();
  const bool ec_ok = moat::key_sign_check(req, keys().ec).ok();
  if (rsa_ok && ec_ok) abort();  // no request fits both kinds of key
  if (req.scheme != moat::SignScheme::kRsaPss && (rsa_ok || ec_ok) &&
      req.input.size() != static_cast<size_t>(EVP_MD_get_size(moat::sign_digest_md(req.digest))))
    abort();
  if (req.scheme == moat::SignScheme::kRsaPss && rsa_ok && req.input.size() != 256) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Span p(data, size);
  auto req = moat::decode<moat::KeySignRequest>(p);
  check_round_trip(req, p);
  if (req.ok()) check_request(*req);
  check_round_trip(moat::decode<moat::KeySignResult>(p), p);
  (void)moat::pss_digest_of(p, 2048);
  if (size > 0) (void)moat::pss_digest_of(p.subspan(1), 2047);
  return 0;
}
