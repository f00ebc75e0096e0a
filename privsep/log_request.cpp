// SPDX-License-Identifier: GPL-2.0-or-later
// The LogEvent request's codec (privsep/log_request.hpp).
#include "privsep/log_request.hpp"

#include "privsep/ipc.hpp"

namespace moat {
namespace {

constexpr uint8_t kUpload = 1, kAscii = 2, kComplete = 4;

}  // namespace

std::vector<uint8_t> encode(const LogRequest& m) {
  IpcWriter w;
  w.u8(static_cast<uint8_t>(m.kind));
  w.str(m.text);
  w.str(m.detail);
  w.u8(static_cast<uint8_t>((m.upload ? kUpload : 0) | (m.ascii ? kAscii : 0) |
                            (m.complete ? kComplete : 0)));
  w.u32(static_cast<uint32_t>(m.bytes));
  w.u32(static_cast<uint32_t>(m.bytes >> 32));
  w.u32(m.millis);
  return w.data();
}

Result<LogRequest> decode_log_request(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto kind = r.u8();
  if (!kind) return fail(kind.error());
  auto text = r.str(kMaxLogText);
  if (!text) return fail(text.error());
  auto detail = r.str(kMaxLogText);
  if (!detail) return fail(detail.error());
  auto flags = r.u8();
  auto lo = r.u32();
  auto hi = r.u32();
  auto millis = r.u32();
  if (!flags || !lo || !hi || !millis) return fail("ipc: truncated message");
  if (auto end = r.finish(); !end) return fail(end.error());
  if (*kind < 1 || *kind > kLastLogKind) return fail("unknown log kind " + std::to_string(*kind));
  if (*flags & ~(kUpload | kAscii | kComplete)) return fail("unknown log flags");
  LogRequest m{static_cast<LogKind>(*kind), std::move(*text), std::move(*detail)};
  m.upload = *flags & kUpload;
  m.ascii = *flags & kAscii;
  m.complete = *flags & kComplete;
  m.bytes = *lo | (static_cast<uint64_t>(*hi) << 32);
  m.millis = *millis;
  return m;
}

}  // namespace moat
