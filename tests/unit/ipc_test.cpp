// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for privsep/ipc: the checked codec, framing over a real SOCK_SEQPACKET pair
// with descriptor passing, and the strict per-message decoders.
#include "privsep/ipc.hpp"
#include "privsep/ipc_messages.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace moat {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(uint16_t type, uint16_t flags, uint32_t len) {
  IpcWriter w;
  w.u16(type);
  w.u16(flags);
  w.u32(len);
  return w.data();
}

Bytes datagram(uint16_t type, uint16_t flags, const Bytes& payload) {
  Bytes d = header(type, flags, static_cast<uint32_t>(payload.size()));
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

Bytes plus_byte(Bytes b) {
  b.push_back(0);
  return b;
}

struct SocketPair {
  UniqueFd a, b;
  SocketPair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

int count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// Sends a raw datagram with n copies of fd attached, bypassing ipc_send's checks.
void send_raw(int sock, const Bytes& data, int fd = -1, size_t nfds = 0) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * nfds));
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    for (size_t i = 0; i < nfds; ++i) std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
  }
  ASSERT_EQ(sendmsg(sock, &msg, 0), static_cast<ssize_t>(data.size()));
}

// ---- codec ------------------------------------------------------------------

TEST(IpcCodec, WriterIsLittleEndianWithLengthPrefixes) {
  IpcWriter w;
  w.u8(0xab);
  w.u16(0x1234);
  w.u32(0xdeadbeef);
  w.str("hi");
  EXPECT_EQ(w.data(), (Bytes{0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 2, 0, 0, 0, 'h', 'i'}));
}

TEST(IpcCodec, ReaderRoundTrip) {
  IpcWriter w;
  w.u8(7);
  w.u16(65535);
  w.u32(4000000000U);
  w.str("user");
  w.bytes(Bytes{1, 2, 3});
  IpcReader r(w.data());
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_EQ(*r.u16(), 65535);
  EXPECT_EQ(*r.u32(), 4000000000U);
  EXPECT_EQ(*r.str(10), "user");
  EXPECT_EQ(*r.bytes(3), (Bytes{1, 2, 3}));
  EXPECT_TRUE(r.at_end());
  EXPECT_TRUE(r.finish().ok());
}

TEST(IpcCodec, ReaderRejectsShortIntegers) {
  const Bytes one{1};
  IpcReader r16(one);
  EXPECT_FALSE(r16.u16().ok());
  const Bytes three{1, 2, 3};
  IpcReader r32(three);
  EXPECT_FALSE(r32.u32().ok());
  IpcReader r8(std::span<const uint8_t>{});
  EXPECT_FALSE(r8.u8().ok());
}

TEST(IpcCodec, ReaderRejectsLengthBeyondLimitOrData) {
  IpcWriter w;
  w.str("abcdef");
  IpcReader limited(w.data());
  auto s = limited.str(5);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("longer"), std::string::npos);

  const Bytes lying{100, 0, 0, 0, 'a', 'b'};  // claims 100 bytes, carries 2
  IpcReader r(lying);
  EXPECT_FALSE(r.str(1000).ok());

  const Bytes huge{0xff, 0xff, 0xff, 0xff, 'a'};
  IpcReader rh(huge);
  EXPECT_FALSE(rh.bytes(SIZE_MAX).ok());
}

TEST(IpcCodec, FinishReportsTrailingBytes) {
  const Bytes b{1, 2};
  IpcReader r(b);
  ASSERT_TRUE(r.u8().ok());
  EXPECT_FALSE(r.finish().ok());
  ASSERT_TRUE(r.u8().ok());
  EXPECT_TRUE(r.finish().ok());
}

// ---- framing ------------------------------------------------------------------

constexpr uint16_t kLastType = static_cast<uint16_t>(MsgType::kLogEvent);

TEST(IpcDecode, AcceptsEveryKnownType) {
  for (uint16_t t = 1; t <= kLastType; ++t) {
    auto m = ipc_decode(datagram(t, 0, {9, 8}));
    ASSERT_TRUE(m.ok()) << t << ": " << m.error();
    EXPECT_EQ(static_cast<uint16_t>(m->type), t);
    EXPECT_EQ(m->payload, (Bytes{9, 8}));
    EXPECT_TRUE(m->fds.empty());
  }
}

TEST(IpcDecode, RejectsBadHeaders) {
  EXPECT_FALSE(ipc_decode({}).ok());
  EXPECT_FALSE(ipc_decode(Bytes{1, 0, 0, 0, 0, 0, 0}).ok());  // 7-byte header
  EXPECT_FALSE(ipc_decode(datagram(0, 0, {})).ok());          // type 0
  EXPECT_FALSE(ipc_decode(datagram(kLastType + 1, 0, {})).ok());  // past the last type
  EXPECT_FALSE(ipc_decode(datagram(0xffff, 0, {})).ok());
  EXPECT_FALSE(ipc_decode(datagram(1, 1, {})).ok());  // flags must be 0
  EXPECT_FALSE(ipc_decode(datagram(1, 0x8000, {})).ok());
  Bytes longer = header(1, 0, 3);
  longer.insert(longer.end(), {1, 2});  // claims 3, carries 2
  EXPECT_FALSE(ipc_decode(longer).ok());
  Bytes shorter = header(1, 0, 1);
  shorter.insert(shorter.end(), {1, 2});  // claims 1, carries 2
  EXPECT_FALSE(ipc_decode(shorter).ok());
}

TEST(IpcDecode, PayloadLimitIsExact) {
  EXPECT_TRUE(ipc_decode(datagram(3, 0, Bytes(kIpcMaxPayload, 'x'))).ok());
  EXPECT_FALSE(ipc_decode(datagram(3, 0, Bytes(kIpcMaxPayload + 1, 'x'))).ok());
}

TEST(IpcSocket, RoundTripWithoutFds) {
  SocketPair sp;
  const Bytes payload{1, 2, 3, 4};
  ASSERT_TRUE(ipc_send(sp.a.get(), MsgType::kLoginResult, payload).ok());
  auto m = ipc_recv(sp.b.get());
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->type, MsgType::kLoginResult);
  EXPECT_EQ(m->flags, 0);
  EXPECT_EQ(m->payload, payload);
  EXPECT_TRUE(m->fds.empty());
}

TEST(IpcSocket, PassesDescriptorsThatReferToTheSameFiles) {
  SocketPair sp;
  char path[] = "/tmp/moat-ipc-XXXXXX";
  UniqueFd file(mkstemp(path));
  ASSERT_TRUE(file);
  unlink(path);
  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  UniqueFd pr(pipefd[0]), pw(pipefd[1]);
  const int fds[] = {file.get(), pr.get()};
  ASSERT_TRUE(ipc_send(sp.a.get(), MsgType::kHandover, encode(Handover{"NOOP\r\n"}), fds).ok());
  auto m = ipc_recv(sp.b.get());
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(m->fds.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    struct stat sent {
    }, got{};
    ASSERT_EQ(fstat(fds[i], &sent), 0);
    ASSERT_EQ(fstat(m->fds[i].get(), &got), 0);
    EXPECT_EQ(sent.st_ino, got.st_ino);
    EXPECT_EQ(sent.st_dev, got.st_dev);
    EXPECT_NE(m->fds[i].get(), fds[i]);
    EXPECT_EQ(fcntl(m->fds[i].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  }
  auto h = decode<Handover>(m->payload);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->pending, "NOOP\r\n");
}

TEST(IpcSocket, LargestPayloadRoundTripsAndLargerIsRefused) {
  SocketPair sp;
  int sz = 1 << 20;
  setsockopt(sp.a.get(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  const Bytes max(kIpcMaxPayload, 0x5a);
  ASSERT_TRUE(ipc_send(sp.a.get(), MsgType::kHandover, max).ok());
  auto m = ipc_recv(sp.b.get());
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->payload, max);
  EXPECT_FALSE(ipc_send(sp.a.get(), MsgType::kHandover, Bytes(kIpcMaxPayload + 1)).ok());
}

TEST(IpcSocket, SendRefusesTooManyFds) {
  SocketPair sp;
  const std::vector<int> fds(kIpcMaxFds + 1, 0);
  EXPECT_FALSE(ipc_send(sp.a.get(), MsgType::kHandover, Bytes{}, fds).ok());
}

TEST(IpcSocket, PeerClosed) {
  SocketPair sp;
  sp.a.reset();
  auto m = ipc_recv(sp.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error(), "ipc: peer closed");
  // And sending to a closed peer is an error, not SIGPIPE.
  SocketPair sp2;
  sp2.b.reset();
  EXPECT_FALSE(ipc_send(sp2.a.get(), MsgType::kLogin, Bytes{}).ok());
}

TEST(IpcSocket, OversizedDatagramIsTruncationError) {
  SocketPair sp;
  int sz = 1 << 20;
  setsockopt(sp.a.get(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  // A datagram exactly one byte over the limit fits the buffer: the header check fails.
  send_raw(sp.a.get(), datagram(3, 0, Bytes(kIpcMaxPayload + 1)));
  EXPECT_FALSE(ipc_recv(sp.b.get()).ok());
  // Larger still: the kernel truncates it, which must be noticed.
  send_raw(sp.a.get(), datagram(3, 0, Bytes(kIpcMaxPayload + 100)));
  auto m = ipc_recv(sp.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().find("truncated"), std::string::npos);
  // The pair still works after errors.
  ASSERT_TRUE(ipc_send(sp.a.get(), MsgType::kLogin, Bytes{}).ok());
  EXPECT_TRUE(ipc_recv(sp.b.get()).ok());
}

TEST(IpcSocket, RejectsMalformedDatagrams) {
  SocketPair sp;
  const Bytes bad[] = {
      Bytes{1, 0, 0},              // shorter than a header
      datagram(kLastType + 1, 0, {}),  // unknown type
      datagram(1, 4, {}),          // flags set
      plus_byte(header(1, 0, 0)),  // header says 0, one byte follows
      header(1, 0, 5),             // header says 5, nothing follows
  };
  for (const Bytes& d : bad) {
    send_raw(sp.a.get(), d);
    EXPECT_FALSE(ipc_recv(sp.b.get()).ok());
  }
}

TEST(IpcSocket, TooManyFdsAreRefusedAndClosed) {
  SocketPair sp;
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(devnull);
  const int before = count_open_fds();
  for (size_t n : {kIpcMaxFds + 1, kIpcMaxFds + 2, size_t{20}}) {
    send_raw(sp.a.get(), datagram(3, 0, {}), devnull.get(), n);
    auto m = ipc_recv(sp.b.get());
    EXPECT_FALSE(m.ok()) << n << " fds accepted";
    EXPECT_EQ(count_open_fds(), before) << n << " fds leaked";
  }
  // Descriptors on an otherwise bad datagram are closed too.
  send_raw(sp.a.get(), datagram(77, 0, {}), devnull.get(), 2);
  EXPECT_FALSE(ipc_recv(sp.b.get()).ok());
  EXPECT_EQ(count_open_fds(), before);
}

// ---- typed messages -------------------------------------------------------------

TEST(IpcMessages, LoginRequestRoundTripAndLimits) {
  auto m = decode<LoginRequest>(encode(LoginRequest{"alice", "s3cret"}));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->user, "alice");
  EXPECT_EQ(m->pass, "s3cret");
  EXPECT_TRUE(decode<LoginRequest>(encode(LoginRequest{std::string(kMaxUserLen, 'u'),
                                                       std::string(kMaxPassLen, 'p')}))
                  .ok());
  EXPECT_FALSE(
      decode<LoginRequest>(encode(LoginRequest{std::string(kMaxUserLen + 1, 'u'), ""})).ok());
  EXPECT_FALSE(
      decode<LoginRequest>(encode(LoginRequest{"u", std::string(kMaxPassLen + 1, 'p')})).ok());
  EXPECT_FALSE(decode<LoginRequest>(plus_byte(encode(LoginRequest{"a", "b"}))).ok());
  Bytes cut = encode(LoginRequest{"alice", "pw"});
  cut.pop_back();
  EXPECT_FALSE(decode<LoginRequest>(cut).ok());
  EXPECT_FALSE(decode<LoginRequest>({}).ok());
}

TEST(IpcMessages, LoginResultRoundTripAndBooleans) {
  auto m = decode<LoginResult>(encode(LoginResult{true, false, "Login successful."}));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_TRUE(m->ok);
  EXPECT_FALSE(m->fatal);
  EXPECT_EQ(m->text, "Login successful.");
  auto f = decode<LoginResult>(encode(LoginResult{false, true, "Login incorrect."}));
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->ok);
  EXPECT_TRUE(f->fatal);
  EXPECT_TRUE(decode<LoginResult>(encode(LoginResult{false, false, std::string(512, 't')})).ok());
  EXPECT_FALSE(decode<LoginResult>(encode(LoginResult{false, false, std::string(513, 't')})).ok());
  EXPECT_FALSE(decode<LoginResult>(plus_byte(encode(LoginResult{true, false, "x"}))).ok());
  Bytes two = encode(LoginResult{true, false, ""});
  two[0] = 2;
  EXPECT_FALSE(decode<LoginResult>(two).ok());
  Bytes fatal_two = encode(LoginResult{true, false, ""});
  fatal_two[1] = 0xff;
  EXPECT_FALSE(decode<LoginResult>(fatal_two).ok());
}

TEST(IpcMessages, HandoverRoundTripAndLimits) {
  auto m = decode<Handover>(encode(Handover{"PWD\r\nLIST\r\n"}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->pending, "PWD\r\nLIST\r\n");
  auto empty = decode<Handover>(encode(Handover{}));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->pending, "");
  EXPECT_TRUE(decode<Handover>(encode(Handover{std::string(kMaxPending, 'x')})).ok());
  EXPECT_FALSE(decode<Handover>(encode(Handover{std::string(kMaxPending + 1, 'x')})).ok());
  EXPECT_FALSE(decode<Handover>(plus_byte(encode(Handover{"a"}))).ok());
}

// What every layout gives: the decoder reads back what the encoder wrote, and refuses
// a byte more. A message whose default is not valid (an enum without a zero) is
// refused whole, never half-read.
template <class M>
void expect_layout_round_trip(const M& m) {
  const Bytes wire = encode(m);
  auto back = decode<M>(wire);
  if (back) {
    EXPECT_EQ(encode(*back), wire);
  }
  EXPECT_FALSE(decode<M>(plus_byte(wire)).ok());
}

TEST(IpcMessages, EveryListedMessageRoundTrips) {
  std::apply([](auto... m) { (expect_layout_round_trip(m), ...); }, IpcMessages{});
}

TEST(IpcMessages, HandoverCarriesTheWholeTlsState) {
  Handover h{"PROT P\r\n", true, {true, true, true, "tag", "der"}};
  auto m = decode<Handover>(encode(h));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_TRUE(m->relay && m->tls.active && m->tls.pbsz && m->tls.prot_private);
  EXPECT_EQ(m->tls.tag, "tag");
  EXPECT_EQ(m->tls.session, "der");
  h.tls.active = false;  // the details without TLS: refused
  EXPECT_FALSE(decode<Handover>(encode(h)).ok());
}

// ipc_call accepts only the request's own reply type: anything else is an error.
TEST(IpcCall, AReplyOfAnotherTypeIsAnError) {
  SocketPair sp;
  ASSERT_TRUE(ipc_send(sp.b.get(), ModulePrivResult{true}).ok());  // queued before the call
  auto res = ipc_call(sp.a.get(), LoginRequest{"u", "p"});
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().find("expected"), std::string::npos) << res.error();
  auto req = ipc_recv_expect<LoginRequest>(sp.b.get());
  ASSERT_TRUE(req.ok()) << req.error();
  EXPECT_EQ(req->body.user, "u");
}

TEST(IpcCall, TheReplyAndItsDescriptorComeBack) {
  SocketPair sp;
  int fd = sp.a.get();
  ASSERT_TRUE(ipc_send(sp.b.get(), Port20Result{true, ""}, std::span(&fd, 1)).ok());
  auto res = ipc_call(sp.a.get(), Port20Request{});
  ASSERT_TRUE(res.ok()) << res.error();
  EXPECT_TRUE(res->body.ok);
  EXPECT_EQ(res->fds.size(), 1u);
}

Port20Request v4_request(const char* addr, uint16_t port) {
  Port20Request r;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sin.sin_addr);
  std::memcpy(&r.peer, &sin, sizeof sin);
  return r;
}

Port20Request v6_request(const char* addr, uint16_t port) {
  Port20Request r;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &sin6.sin6_addr);
  std::memcpy(&r.peer, &sin6, sizeof sin6);
  return r;
}

TEST(IpcMessages, Port20RequestIpv4) {
  const Bytes wire = encode(v4_request("192.0.2.7", 2021));
  EXPECT_EQ(wire, (Bytes{4, 192, 0, 2, 7, 0xe5, 0x07}));
  auto m = decode<Port20Request>(wire);
  ASSERT_TRUE(m.ok()) << m.error();
  sockaddr_in sin;
  std::memcpy(&sin, &m->peer, sizeof sin);
  EXPECT_EQ(sin.sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin.sin_port), 2021);
  char text[INET_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text), "192.0.2.7");
}

TEST(IpcMessages, Port20RequestIpv6) {
  const Bytes wire = encode(v6_request("2001:db8::42", 65535));
  ASSERT_EQ(wire.size(), 1u + 16 + 2);
  auto m = decode<Port20Request>(wire);
  ASSERT_TRUE(m.ok()) << m.error();
  sockaddr_in6 sin6;
  std::memcpy(&sin6, &m->peer, sizeof sin6);
  EXPECT_EQ(sin6.sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(sin6.sin6_port), 65535);
  char text[INET6_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text), "2001:db8::42");
}

TEST(IpcMessages, Port20RequestRejectsAnythingElse) {
  Port20Request unix_peer;
  unix_peer.peer.ss_family = AF_UNIX;
  EXPECT_FALSE(decode<Port20Request>(encode(unix_peer)).ok());
  EXPECT_FALSE(decode<Port20Request>({}).ok());
  EXPECT_FALSE(decode<Port20Request>(Bytes{5, 1, 2, 3, 4, 0, 1}).ok());  // family 5
  EXPECT_FALSE(decode<Port20Request>(Bytes{2, 1, 2, 3, 4, 0, 1}).ok());  // AF_INET's value, not 4
  EXPECT_FALSE(decode<Port20Request>(Bytes{4, 1, 2, 3, 4, 0}).ok());     // short port
  EXPECT_FALSE(decode<Port20Request>(Bytes{4, 1, 2, 3}).ok());           // short address
  EXPECT_FALSE(decode<Port20Request>(plus_byte(encode(v4_request("10.0.0.1", 21)))).ok());
  Bytes v6 = encode(v6_request("::1", 21));
  v6.pop_back();
  EXPECT_FALSE(decode<Port20Request>(v6).ok());
  EXPECT_FALSE(decode<Port20Request>(plus_byte(encode(v6_request("::1", 21)))).ok());
  Bytes v4_as_v6 = encode(v4_request("10.0.0.1", 21));
  v4_as_v6[0] = 6;
  EXPECT_FALSE(decode<Port20Request>(v4_as_v6).ok());
}

TEST(IpcMessages, Port20ResultRoundTripAndLimits) {
  auto m = decode<Port20Result>(encode(Port20Result{false, "Bad address."}));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_FALSE(m->ok);
  EXPECT_EQ(m->text, "Bad address.");
  auto ok = decode<Port20Result>(encode(Port20Result{true, ""}));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->ok);
  EXPECT_FALSE(decode<Port20Result>(encode(Port20Result{false, std::string(513, 'x')})).ok());
  EXPECT_FALSE(decode<Port20Result>(plus_byte(encode(Port20Result{true, ""}))).ok());
  Bytes bad_bool = encode(Port20Result{true, ""});
  bad_bool[0] = 3;
  EXPECT_FALSE(decode<Port20Result>(bad_bool).ok());
  EXPECT_FALSE(decode<Port20Result>(Bytes{1}).ok());
}

TEST(IpcMessages, LoginFailedRoundTripAndLimits) {
  auto m = decode<LoginFailed>(encode(LoginFailed{"mallory"}));
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->user, "mallory");
  IpcWriter w;
  w.str("x");
  EXPECT_EQ(encode(LoginFailed{"x"}), w.data());  // just the length-prefixed name
  auto longest = decode<LoginFailed>(encode(LoginFailed{std::string(kMaxUserLen, 'u')}));
  ASSERT_TRUE(longest.ok());
  EXPECT_EQ(longest->user.size(), kMaxUserLen);
  EXPECT_FALSE(decode<LoginFailed>(encode(LoginFailed{std::string(kMaxUserLen + 1, 'u')})).ok());
  EXPECT_FALSE(decode<LoginFailed>({}).ok());
  EXPECT_FALSE(decode<LoginFailed>(plus_byte(encode(LoginFailed{"a"}))).ok());
  Bytes truncated = encode(LoginFailed{"abc"});
  truncated.pop_back();
  EXPECT_FALSE(decode<LoginFailed>(truncated).ok());
}

Bytes module_priv_wire(uint16_t module, uint16_t type, const Bytes& payload) {
  IpcWriter w;
  w.u16(module);
  w.u16(type);
  w.bytes(payload);
  return w.data();
}

TEST(IpcMessages, ModulePrivRequestRoundTrip) {
  const Bytes wire = encode(ModulePrivRequest{3, 0x0102, {'o', 'k'}});
  EXPECT_EQ(wire, (Bytes{3, 0, 2, 1, 2, 0, 0, 0, 'o', 'k'}));  // module, type, u32 length
  auto m = decode<ModulePrivRequest>(wire);
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->module, 3);
  EXPECT_EQ(m->type, 0x0102);
  EXPECT_EQ(m->payload, (Bytes{'o', 'k'}));
  auto empty = decode<ModulePrivRequest>(encode(ModulePrivRequest{0xffff, 0, {}}));
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_EQ(empty->module, 0xffff);
  EXPECT_TRUE(empty->payload.empty());
}

TEST(IpcMessages, ModulePrivRequestPayloadLimitIsExact) {
  auto largest = decode<ModulePrivRequest>(
      encode(ModulePrivRequest{1, 1, Bytes(kMaxModulePayload, 'p')}));
  ASSERT_TRUE(largest.ok()) << largest.error();
  EXPECT_EQ(largest->payload.size(), kMaxModulePayload);
  EXPECT_EQ(kMaxModulePayload, 4096u);  // moat_module.h promises modules 4 KiB
  EXPECT_FALSE(decode<ModulePrivRequest>(
                   encode(ModulePrivRequest{1, 1, Bytes(kMaxModulePayload + 1, 'p')}))
                   .ok());
  // A length field that claims more than the limit, whatever follows.
  Bytes claims = module_priv_wire(1, 1, {});
  claims[4] = 0x01;
  claims[5] = 0x10;  // 4097
  EXPECT_FALSE(decode<ModulePrivRequest>(claims).ok());
  Bytes huge = module_priv_wire(1, 1, {});
  std::fill(huge.begin() + 4, huge.end(), 0xff);
  EXPECT_FALSE(decode<ModulePrivRequest>(huge).ok());
}

TEST(IpcMessages, ModulePrivRequestRejectsTruncationAndTrailingBytes) {
  const Bytes good = encode(ModulePrivRequest{2, 7, {'a', 'b', 'c'}});
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_FALSE(decode<ModulePrivRequest>(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len))).ok())
        << "cut to " << len << " bytes";
  }
  EXPECT_FALSE(decode<ModulePrivRequest>(plus_byte(good)).ok());
  EXPECT_FALSE(decode<ModulePrivRequest>(plus_byte(encode(ModulePrivRequest{}))).ok());
}

TEST(IpcMessages, ModulePrivResultRoundTripAndLimits) {
  auto yes = decode<ModulePrivResult>(encode(ModulePrivResult{true}));
  ASSERT_TRUE(yes.ok()) << yes.error();
  EXPECT_TRUE(yes->ok);
  EXPECT_EQ(encode(ModulePrivResult{false}), Bytes{0});
  auto no = decode<ModulePrivResult>(Bytes{0});
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->ok);
  EXPECT_FALSE(decode<ModulePrivResult>({}).ok());
  EXPECT_FALSE(decode<ModulePrivResult>(Bytes{2}).ok());
  EXPECT_FALSE(decode<ModulePrivResult>(Bytes{0xff}).ok());
  EXPECT_FALSE(decode<ModulePrivResult>(plus_byte(encode(ModulePrivResult{true}))).ok());
  EXPECT_TRUE(ipc_decode(datagram(9, 0, encode(ModulePrivRequest{}))).ok());  // known types
  EXPECT_TRUE(ipc_decode(datagram(10, 0, Bytes{1})).ok());
}

}  // namespace
}  // namespace moat
