// SPDX-License-Identifier: GPL-2.0-or-later
// The PROXY protocol header (v1 text, v2 binary) a load balancer puts before the
// client's first byte: a strict, bounded parser with no I/O, so the master can run it
// on the few bytes a trusted balancer sends and the fuzzer can run it on anything.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/common/util.hpp"

namespace moat {

// No header is longer: v1's own limit is 107 bytes; v2's addresses take at most 36
// bytes after its 16-byte preamble, and 1024 leaves room for the TLVs balancers add.
constexpr size_t kProxyHeaderMax = 1024;

struct ProxyHeader {
  size_t length = 0;  // bytes the header takes at the start of the stream
  // LOCAL (v2) or UNKNOWN (v1): the balancer speaks for itself (a health check), and
  // the connection's own addresses stand.
  bool local = false;
  sockaddr_storage source{};
  sockaddr_storage destination{};
};

// The header at the start of `bytes`: nullopt while it is incomplete (more bytes may
// finish it), an error once no continuation can make it valid.
Result<std::optional<ProxyHeader>> proxy_header_parse(std::string_view bytes);

}  // namespace moat
