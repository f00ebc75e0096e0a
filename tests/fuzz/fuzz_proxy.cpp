// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the PROXY header parser the master runs on a trusted balancer's
// first bytes. A header never claims more bytes than it was given or than the bound,
// and a complete header parses the same with anything after it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/master/proxy_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto r = moat::proxy_header_parse(raw);
  if (!r.ok() || !r->has_value()) return 0;
  const moat::ProxyHeader& h = **r;
  if (h.length == 0 || h.length > size || h.length > moat::kProxyHeaderMax) abort();
  auto again = moat::proxy_header_parse(raw.substr(0, h.length));
  if (!again.ok() || !again->has_value() || (*again)->length != h.length) abort();
  if (!h.local && h.source.ss_family != h.destination.ss_family) abort();
  return 0;
}
