// SPDX-License-Identifier: GPL-2.0-or-later
// Helper <-> worker messages: the checked byte codec and one datagram per message on a
// SOCK_SEQPACKET socket with SCM_RIGHTS fds. The messages' layouts are in ipc.hpp.
#include "privsep/ipc.hpp"

#include <netinet/in.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace moat {

namespace {

constexpr uint8_t kWireInet4 = 4;
constexpr uint8_t kWireInet6 = 6;

Error truncated() { return fail("ipc: truncated message"); }

bool known_type(uint16_t t) {
  return t >= static_cast<uint16_t>(MsgType::kLogin) &&
         t <= static_cast<uint16_t>(MsgType::kLogEvent);
}

}  // namespace

// ---- IpcWriter ------------------------------------------------------------

void IpcWriter::u8(uint8_t v) { buf_.push_back(v); }

void IpcWriter::u16(uint16_t v) {
  u8(static_cast<uint8_t>(v));
  u8(static_cast<uint8_t>(v >> 8));
}

void IpcWriter::u32(uint32_t v) {
  u16(static_cast<uint16_t>(v));
  u16(static_cast<uint16_t>(v >> 16));
}

void IpcWriter::str(std::string_view s) {
  bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

void IpcWriter::bytes(std::span<const uint8_t> b) {
  u32(static_cast<uint32_t>(b.size()));
  buf_.insert(buf_.end(), b.begin(), b.end());
}

// ---- IpcReader ------------------------------------------------------------

Result<uint8_t> IpcReader::u8() {
  if (data_.size() - pos_ < 1) return truncated();
  return data_[pos_++];
}

Result<uint16_t> IpcReader::u16() {
  if (data_.size() - pos_ < 2) return truncated();
  const uint16_t v = static_cast<uint16_t>(data_[pos_] | (data_[pos_ + 1] << 8));
  pos_ += 2;
  return v;
}

Result<uint32_t> IpcReader::u32() {
  auto lo = u16();
  if (!lo) return fail(lo.error());
  auto hi = u16();
  if (!hi) return fail(hi.error());
  return static_cast<uint32_t>(*lo) | (static_cast<uint32_t>(*hi) << 16);
}

Result<std::vector<uint8_t>> IpcReader::bytes(size_t max_len) {
  auto len = u32();
  if (!len) return fail(len.error());
  if (*len > max_len) return fail("ipc: field longer than " + std::to_string(max_len));
  if (*len > data_.size() - pos_) return truncated();
  auto field = data_.subspan(pos_, *len);
  pos_ += *len;
  return std::vector<uint8_t>(field.begin(), field.end());
}

Result<std::string> IpcReader::str(size_t max_len) {
  auto b = bytes(max_len);
  if (!b) return fail(b.error());
  return std::string(b->begin(), b->end());
}

Status IpcReader::finish() const {
  if (!at_end()) return fail("ipc: " + std::to_string(data_.size() - pos_) + " trailing bytes");
  return Ok{};
}

// ---- framing --------------------------------------------------------------

Result<Message> ipc_decode(std::span<const uint8_t> datagram) {
  IpcReader r(datagram);
  auto type = r.u16();
  auto flags = r.u16();
  auto len = r.u32();
  if (!type || !flags || !len) return fail("ipc: short header");
  if (*len != datagram.size() - kIpcHeaderSize) return fail("ipc: length disagrees with datagram");
  if (*len > kIpcMaxPayload) return fail("ipc: payload too large");
  if (!known_type(*type)) return fail("ipc: unknown message type " + std::to_string(*type));
  if (*flags != 0) return fail("ipc: unknown flags");
  Message m;
  m.type = static_cast<MsgType>(*type);
  m.payload.assign(datagram.begin() + kIpcHeaderSize, datagram.end());
  return m;
}

Status ipc_send(int sock, MsgType type, std::span<const uint8_t> payload,
                std::span<const int> fds) {
  if (payload.size() > kIpcMaxPayload) return fail("ipc: payload too large");
  if (fds.size() > kIpcMaxFds) return fail("ipc: too many descriptors");
  IpcWriter h;
  h.u16(static_cast<uint16_t>(type));
  h.u16(0);
  h.u32(static_cast<uint32_t>(payload.size()));
  std::array<iovec, 2> iov{{
      {const_cast<uint8_t*>(h.data().data()), h.data().size()},
      {const_cast<uint8_t*>(payload.data()), payload.size()},
  }};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kIpcMaxFds)> control{};
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail("ipc: send: " + errno_text(errno));
  if (static_cast<size_t>(n) != kIpcHeaderSize + payload.size()) return fail("ipc: short send");
  return Ok{};
}

namespace {

// Takes ownership of every descriptor the kernel installed, whatever else is wrong
// with the message, so that an error path cannot leak them.
Status collect_fds(msghdr& msg, std::vector<UniqueFd>& out) {
  bool unexpected = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      unexpected = true;
      continue;
    }
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      out.emplace_back(fd);
    }
  }
  if (unexpected) return fail("ipc: unexpected control message");
  return Ok{};
}

}  // namespace

Result<Message> ipc_recv(int sock) {
  // One byte more than the largest valid datagram, so an oversized one shows as
  // truncated instead of being silently cut to a plausible length. Not zeroed: that
  // would dirty 64 KiB in every session process for datagrams of a few dozen bytes.
  constexpr size_t kBufSize = kIpcHeaderSize + kIpcMaxPayload + 1;
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(kBufSize);
  // Room for one fd beyond the limit, so "too many" is told apart from truncation.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * (kIpcMaxFds + 1))> control{};
  iovec iov{buf.get(), kBufSize};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail("ipc: receive: " + errno_text(errno));
  std::vector<UniqueFd> fds;
  auto control_ok = collect_fds(msg, fds);
  if (n == 0) return fail("ipc: peer closed");
  if (msg.msg_flags & MSG_TRUNC) return fail("ipc: message truncated");
  if (msg.msg_flags & MSG_CTRUNC) return fail("ipc: control data truncated");
  if (!control_ok) return fail(control_ok.error());
  if (fds.size() > kIpcMaxFds) return fail("ipc: too many descriptors");
  auto m = ipc_decode({buf.get(), static_cast<size_t>(n)});
  if (!m) return m;
  m->fds = std::move(fds);
  return m;
}

// ---- typed messages -------------------------------------------------------

Status IpcLayout<Handover>::check(const Handover& h) {
  const TlsState& t = h.tls;
  if (!t.active && (h.relay || t.pbsz || t.prot_private || !t.tag.empty() || !t.session.empty()))
    return fail("TLS details without TLS");
  return Ok{};
}

std::string ipc_type_error(MsgType got, MsgType expected) {
  return "ipc: message type " + std::to_string(static_cast<unsigned>(got)) + " where " +
         std::to_string(static_cast<unsigned>(expected)) + " was expected";
}

namespace {

void put_raw(IpcWriter& w, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) w.u8(b[i]);
}

Status get_raw(IpcReader& r, void* p, size_t n) {
  auto* b = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    auto v = r.u8();
    if (!v) return fail(v.error());
    b[i] = *v;
  }
  return Ok{};
}

// Reads address bytes and port into a sockaddr_in or sockaddr_in6 and copies it out,
// so the storage is never accessed through a type-punned reference.
template <class Sockaddr, class Addr>
Status get_peer(IpcReader& r, sa_family_t family, Addr Sockaddr::*addr, in_port_t Sockaddr::*port,
                sockaddr_storage& out) {
  Sockaddr sa{};
  if (auto a = get_raw(r, &(sa.*addr), sizeof(Addr)); !a) return a;
  auto p = r.u16();
  if (!p) return fail(p.error());
  sa.*port = htons(*p);
  std::memcpy(&out, &sa, sizeof sa);
  out.ss_family = family;
  return Ok{};
}

}  // namespace

// The port travels as a number (little-endian like every integer here), not in the
// network byte order of the sockaddr. A family other than IPv4/IPv6 is encoded as 0,
// which the decoder refuses.
void ipc_put_peer(IpcWriter& w, const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &peer, sizeof sin);
    w.u8(kWireInet4);
    put_raw(w, &sin.sin_addr, sizeof sin.sin_addr);
    w.u16(ntohs(sin.sin_port));
  } else if (peer.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &peer, sizeof sin6);
    w.u8(kWireInet6);
    put_raw(w, &sin6.sin6_addr, sizeof sin6.sin6_addr);
    w.u16(ntohs(sin6.sin6_port));
  } else {
    w.u8(0);
  }
}

Status ipc_get_peer(IpcReader& r, sockaddr_storage& out) {
  auto family = r.u8();
  if (!family) return fail(family.error());
  if (*family == kWireInet4)
    return get_peer(r, AF_INET, &sockaddr_in::sin_addr, &sockaddr_in::sin_port, out);
  if (*family == kWireInet6)
    return get_peer(r, AF_INET6, &sockaddr_in6::sin6_addr, &sockaddr_in6::sin6_port, out);
  return fail("ipc: unknown address family " + std::to_string(*family));
}

}  // namespace moat
