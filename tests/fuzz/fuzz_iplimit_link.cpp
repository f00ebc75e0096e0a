// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: mod_iplimit's link decoder, which the master runs on what its Redis
// child sends and the child on what Redis publishes. A decoded message is bounded,
// names a canonical address, and encodes back to a text that decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "modules/mod_iplimit/link_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = link_decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m) return 0;
  if (size > kLinkMessageMax || m->address.size() >= 46) abort();
  if (!m->address.empty() && link_address(m->address) != m->address) abort();
  auto again = link_decode(link_encode(*m));
  if (!again || again->kind != m->kind || again->address != m->address ||
      again->number != m->number)
    abort();
  return 0;
}
