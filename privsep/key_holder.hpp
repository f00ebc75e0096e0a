// SPDX-License-Identifier: GPL-2.0-or-later
// The session's TLS signer: the helper side of the KeySign request (the input's checks;
// where and how often it is allowed is the helper's table) and the key holder, a child
// of the helper that alone reads the private key.
#pragma once

#include <sys/types.h>

#include "core/common/server.hpp"
#include "core/common/util.hpp"
#include "privsep/ipc.hpp"
#include "privsep/key_ops.hpp"

namespace moat {

// A compromised worker gains a signing oracle bounded by the helper table's KEY_SIGN
// counts, over handshake hashes only (key_ops.hpp): never the key, never a decryption.
class KeySigner {
 public:
  explicit KeySigner(const ServerContext& ctx) : ctx_(ctx) {}

  // One KeySign request from the worker on worker_fd, answered there. An error (a
  // malformed or misfitting request) ends the session; a key holder that cannot sign
  // is a refused signature (the handshake fails).
  Status serve(const Message& msg, int worker_fd);

 private:
  KeySignResult sign(const KeySignRequest& req);
  bool start_holder();

  const ServerContext& ctx_;
  UniqueFd holder_;  // IPC to the key holder, once started
  bool holder_failed_ = false;
};

// The key holder's one step: reads a KEY_SIGN request on sock, checks and signs it
// with key, answers. False when the helper has gone (the holder then exits). The
// seccomp self-test runs it under the holder's filter.
bool key_holder_answer(EVP_PKEY* key, int sock);

}  // namespace moat
