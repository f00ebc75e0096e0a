// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the IPC framing (ipc_decode) and the decoder of every message in
// privsep/ipc_messages.hpp, with the check that whatever decodes re-encodes to exactly
// the same bytes (so no field escapes its bound: the encoder writes what was read).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "privsep/ipc_messages.hpp"

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

// Every message of the list, each through the decoder its layout makes.
void decode_all(Span p) {
  std::apply([p](auto... m) { (check_round_trip(moat::decode<decltype(m)>(p), p), ...); },
             moat::IpcMessages{});
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
