// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the IPC framing (ipc_decode) and every typed decoder, with
// the check that whatever decodes re-encodes to exactly the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "privsep/ipc.hpp"
#include "privsep/log_request.hpp"

namespace {

using Span = std::span<const uint8_t>;

template <class T>
void check_round_trip(const moat::Result<T>& m, Span input) {
  if (!m.ok()) return;
  const std::vector<uint8_t> again = moat::encode(*m);
  if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin())) {
    abort();
  }
}

void decode_all(Span p) {
  auto login = moat::decode_login_request(p);
  if (login.ok() &&
      (login->user.size() > moat::kMaxUserLen || login->pass.size() > moat::kMaxPassLen)) {
    abort();
  }
  check_round_trip(login, p);
  check_round_trip(moat::decode_login_result(p), p);
  auto handover = moat::decode_handover(p);
  if (handover.ok() && handover->pending.size() > moat::kMaxPending) abort();
  check_round_trip(handover, p);
  check_round_trip(moat::decode_port20_request(p), p);
  check_round_trip(moat::decode_port20_result(p), p);
  auto failed = moat::decode_login_failed(p);
  if (failed.ok() && failed->user.size() > moat::kMaxUserLen) abort();
  check_round_trip(failed, p);
  auto log = moat::decode_log_request(p);
  if (log.ok() && log->text.size() > moat::kMaxLogText) abort();
  check_round_trip(log, p);
  check_round_trip(moat::decode_chown_upload(p), p);
  check_round_trip(moat::decode_chown_upload_result(p), p);
  auto priv = moat::decode_module_priv_request(p);
  if (priv.ok() && priv->payload.size() > moat::kMaxModulePayload) abort();
  check_round_trip(priv, p);
  check_round_trip(moat::decode_module_priv_result(p), p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Span input(data, size);
  auto m = moat::ipc_decode(input);
  if (m.ok()) {
    if (m->payload.size() + moat::kIpcHeaderSize != size || m->flags != 0) abort();
    if (m->payload.size() > moat::kIpcMaxPayload || !m->fds.empty()) abort();
    decode_all(m->payload);
  }
  decode_all(input);
  return 0;
}
