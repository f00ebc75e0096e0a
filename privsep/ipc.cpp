// SPDX-License-Identifier: GPL-2.0-or-later
// Helper <-> worker messages: the checked byte codec, one datagram per message on a
// SOCK_SEQPACKET socket with SCM_RIGHTS fds, and one strict decoder per message type.
#include "privsep/ipc.hpp"

#include <netinet/in.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace moat {

namespace {

constexpr size_t kMaxText = 512;  // reply text in LoginResult / Port20Result
constexpr uint8_t kWireInet4 = 4;
constexpr uint8_t kWireInet6 = 6;

Error truncated() { return fail("ipc: truncated message"); }

bool known_type(uint16_t t) {
  return t >= static_cast<uint16_t>(MsgType::kLogin) &&
         t <= static_cast<uint16_t>(MsgType::kLogEvent);
}

Result<bool> read_bool(IpcReader& r) {
  auto v = r.u8();
  if (!v) return fail(v.error());
  if (*v > 1) return fail("ipc: boolean out of range");
  return *v == 1;
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

std::vector<uint8_t> encode(const LoginRequest& m) {
  IpcWriter w;
  w.str(m.user);
  w.str(m.pass);
  return w.data();
}

Result<LoginRequest> decode_login_request(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto user = r.str(kMaxUserLen);
  if (!user) return fail(user.error());
  auto pass = r.str(kMaxPassLen);
  if (!pass) return fail(pass.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return LoginRequest{std::move(*user), std::move(*pass)};
}

std::vector<uint8_t> encode(const LoginResult& m) {
  IpcWriter w;
  w.u8(m.ok ? 1 : 0);
  w.u8(m.fatal ? 1 : 0);
  w.str(m.text);
  return w.data();
}

Result<LoginResult> decode_login_result(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto ok = read_bool(r);
  if (!ok) return fail(ok.error());
  auto fatal = read_bool(r);
  if (!fatal) return fail(fatal.error());
  auto text = r.str(kMaxText);
  if (!text) return fail(text.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return LoginResult{*ok, *fatal, std::move(*text)};
}

std::vector<uint8_t> encode(const Handover& m) {
  IpcWriter w;
  w.str(m.pending);
  w.u8(m.tls ? 1 : 0);
  w.u8(m.relay ? 1 : 0);
  w.u8(m.pbsz ? 1 : 0);
  w.u8(m.prot_private ? 1 : 0);
  w.str(m.tls_tag);
  w.str(m.tls_session);
  return w.data();
}

Result<Handover> decode_handover(std::span<const uint8_t> p) {
  IpcReader r(p);
  Handover h;
  auto pending = r.str(kMaxPending);
  if (!pending) return fail(pending.error());
  h.pending = std::move(*pending);
  for (bool* flag : {&h.tls, &h.relay, &h.pbsz, &h.prot_private}) {
    auto b = read_bool(r);
    if (!b) return fail(b.error());
    *flag = *b;
  }
  auto tag = r.str(kMaxTlsTag);
  if (!tag) return fail(tag.error());
  auto session = r.str(kMaxTlsSession);
  if (!session) return fail(session.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  h.tls_tag = std::move(*tag);
  h.tls_session = std::move(*session);
  if (!h.tls && (h.relay || h.pbsz || h.prot_private || !h.tls_tag.empty() || !h.tls_session.empty()))
    return fail("TLS details without TLS");
  return h;
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
std::vector<uint8_t> encode(const Port20Request& m) {
  IpcWriter w;
  if (m.peer.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &m.peer, sizeof sin);
    w.u8(kWireInet4);
    put_raw(w, &sin.sin_addr, sizeof sin.sin_addr);
    w.u16(ntohs(sin.sin_port));
  } else if (m.peer.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &m.peer, sizeof sin6);
    w.u8(kWireInet6);
    put_raw(w, &sin6.sin6_addr, sizeof sin6.sin6_addr);
    w.u16(ntohs(sin6.sin6_port));
  } else {
    w.u8(0);
  }
  return w.data();
}

Result<Port20Request> decode_port20_request(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto family = r.u8();
  if (!family) return fail(family.error());
  Port20Request m;
  Status peer = Ok{};
  if (*family == kWireInet4) {
    peer = get_peer(r, AF_INET, &sockaddr_in::sin_addr, &sockaddr_in::sin_port, m.peer);
  } else if (*family == kWireInet6) {
    peer = get_peer(r, AF_INET6, &sockaddr_in6::sin6_addr, &sockaddr_in6::sin6_port, m.peer);
  } else {
    return fail("ipc: unknown address family " + std::to_string(*family));
  }
  if (!peer) return fail(peer.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return m;
}

std::vector<uint8_t> encode(const Port20Result& m) {
  IpcWriter w;
  w.u8(m.ok ? 1 : 0);
  w.str(m.text);
  return w.data();
}

Result<Port20Result> decode_port20_result(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto ok = read_bool(r);
  if (!ok) return fail(ok.error());
  auto text = r.str(kMaxText);
  if (!text) return fail(text.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return Port20Result{*ok, std::move(*text)};
}

std::vector<uint8_t> encode(const LoginFailed& m) {
  IpcWriter w;
  w.str(m.user);
  return w.data();
}

Result<LoginFailed> decode_login_failed(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto user = r.str(kMaxUserLen);
  if (!user) return fail(user.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return LoginFailed{std::move(*user)};
}

std::vector<uint8_t> encode(const ChownUpload&) { return {}; }

Result<ChownUpload> decode_chown_upload(std::span<const uint8_t> p) {
  IpcReader r(p);
  if (auto end = r.finish(); !end) return fail(end.error());
  return ChownUpload{};
}

std::vector<uint8_t> encode(const ChownUploadResult& m) {
  IpcWriter w;
  w.u8(m.ok ? 1 : 0);
  return w.data();
}

Result<ChownUploadResult> decode_chown_upload_result(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto ok = read_bool(r);
  if (!ok) return fail(ok.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return ChownUploadResult{*ok};
}

std::vector<uint8_t> encode(const ModulePrivRequest& m) {
  IpcWriter w;
  w.u16(m.module);
  w.u16(m.type);
  w.bytes(m.payload);
  return w.data();
}

Result<ModulePrivRequest> decode_module_priv_request(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto module = r.u16();
  if (!module) return fail(module.error());
  auto type = r.u16();
  if (!type) return fail(type.error());
  auto payload = r.bytes(kMaxModulePayload);
  if (!payload) return fail(payload.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return ModulePrivRequest{*module, *type, std::move(*payload)};
}

std::vector<uint8_t> encode(const ModulePrivResult& m) {
  IpcWriter w;
  w.u8(m.ok ? 1 : 0);
  return w.data();
}

Result<ModulePrivResult> decode_module_priv_result(std::span<const uint8_t> p) {
  IpcReader r(p);
  auto ok = read_bool(r);
  if (!ok) return fail(ok.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  return ModulePrivResult{*ok};
}

}  // namespace moat
