// SPDX-License-Identifier: GPL-2.0-or-later
// The session's TLS signer: the helper side of the KeySign request (the checks and the
// budget) and the key holder, a child of the helper that alone reads the private key.
#pragma once

#include <sys/types.h>

#include "core/server.hpp"
#include "core/util.hpp"
#include "privsep/ipc.hpp"
#include "privsep/key_ops.hpp"

namespace moat {

// Where a worker may ask for a signature, and how often, per session:
//  - before login, once: the control connection's handshake (AUTH TLS or implicit);
//  - after login, only when the control connection is TLS: data connections' full
//    handshakes. With require_ssl_reuse each is refused after it (it did not resume),
//    so a few suffice; without it every data connection may need one.
// A compromised worker thus gains a signing oracle bounded by these counts, over
// handshake hashes only (key_ops.hpp): never the key, never a decryption.
constexpr unsigned kControlSignatures = 1;
constexpr unsigned kRefusedDataSignatures = 8;
constexpr unsigned kDataSignatures = 1u << 16;
constexpr unsigned kMaxKeySigns = kControlSignatures + kDataSignatures;

class KeySigner {
 public:
  explicit KeySigner(const ServerContext& ctx) : ctx_(ctx) {}

  // One KeySign request from the worker on worker_fd, answered there. An error (a
  // malformed or misfitting request, one past its budget) ends the session; a key
  // holder that cannot sign is a refused signature (the handshake fails).
  // cfg: the session's options (require_ssl_reuse, after user_config_dir).
  Status serve(const Message& msg, int worker_fd, bool logged_in, bool control_tls,
               const Config& cfg);

 private:
  Status check_budget(bool logged_in, bool control_tls, const Config& cfg);
  KeySignResult sign(const KeySignRequest& req);
  bool start_holder();

  const ServerContext& ctx_;
  UniqueFd holder_;  // IPC to the key holder, once started
  bool holder_failed_ = false;
  unsigned before_login_ = 0;
  unsigned after_login_ = 0;
};

}  // namespace moat
