// SPDX-License-Identifier: GPL-2.0-or-later
// Typed messages between a session's root helper and its worker, over one
// SOCK_SEQPACKET socketpair: header {u16 type, u16 flags, u32 len}, payload <= 64 KiB,
// file descriptors by SCM_RIGHTS. Every message is a struct and its layout (a table of
// fields, ipc_wire.hpp); encode, decode and ipc_call are generic over the layouts.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/util.hpp"
#include "privsep/ipc_wire.hpp"

namespace moat {

enum class MsgType : uint16_t {
  kLogin = 1,         // worker -> helper: LoginRequest
  kLoginResult = 2,   // helper -> worker: LoginResult
  kHandover = 3,      // worker -> helper: Handover + the control socket fd
  kPort20Socket = 4,  // worker -> helper: Port20Request
  kPort20Result = 5,  // helper -> worker: Port20Result (+ a bound socket fd on success)
  kLoginFailed = 6,   // helper -> master (privsep/master_link): LoginFailed
  kModulePriv = 7,         // worker -> helper: ModulePrivRequest (+ at most one fd)
  kModulePrivResult = 8,   // helper -> worker: ModulePrivResult
  kKeySign = 9,            // worker -> helper -> key holder: KeySignRequest (privsep/key_ops)
  kKeySignResult = 10,     // key holder -> helper -> worker: KeySignResult
  kLogEvent = 11,          // worker -> helper: LogRequest (privsep/log_relay), no answer
};

constexpr size_t kIpcHeaderSize = 8;
constexpr size_t kIpcMaxPayload = 64 * 1024;
constexpr size_t kIpcMaxFds = 4;

struct Message {
  MsgType type{};
  uint16_t flags = 0;
  std::vector<uint8_t> payload;
  std::vector<UniqueFd> fds;
};

// Sends one message; fails on a short write or an oversized payload.
Status ipc_send(int sock, MsgType type, std::span<const uint8_t> payload,
                std::span<const int> fds = {});
// Receives one message; fails on EOF ("peer closed"), truncation of payload or
// control data, a header that disagrees with the datagram, or an unknown type.
Result<Message> ipc_recv(int sock);
// Decodes one datagram already read (header + payload); the fuzzed parser.
Result<Message> ipc_decode(std::span<const uint8_t> datagram);

// ---- typed messages ------------------------------------------------------

constexpr size_t kMaxUserLen = 128;
constexpr size_t kMaxPassLen = 512;
constexpr size_t kMaxReplyText = 512;  // reply text in LoginResult / Port20Result

struct LoginRequest {
  std::string user;
  std::string pass;
};
struct LoginResult {
  bool ok = false;
  bool fatal = false;  // the helper ends the session after this reply
  std::string text;    // reply text after the code, e.g. "Login incorrect."
};
template <>
struct IpcLayout<LoginRequest> {
  static constexpr MsgType type = MsgType::kLogin;
  using Reply = LoginResult;
  static constexpr auto fields = std::tuple{wire::Text{&LoginRequest::user, kMaxUserLen},
                                            wire::Text{&LoginRequest::pass, kMaxPassLen}};
};
template <>
struct IpcLayout<LoginResult> {
  static constexpr MsgType type = MsgType::kLoginResult;
  static constexpr auto fields =
      std::tuple{wire::Bool{&LoginResult::ok}, wire::Bool{&LoginResult::fatal},
                 wire::Text{&LoginResult::text, kMaxReplyText}};
};

// The control connection's TLS state (RFC 4217), carried from worker to worker.
// The TLS itself stays in the first pre-login worker, which relays the control
// connection after login; later workers see plaintext on a socketpair.
struct TlsState {
  bool active = false;        // AUTH TLS (or implicit TLS) done
  bool pbsz = false;          // PBSZ 0 received
  bool prot_private = false;  // PROT P: data connections use TLS
  std::string tag;            // what data connections must resume (require_ssl_reuse)
  std::string session;        // the control session, DER, for the session-id cache
};
constexpr size_t kMaxTlsTag = 64;
constexpr size_t kMaxTlsSession = 8192;
template <>
struct IpcLayout<TlsState> {
  static constexpr auto fields =
      std::tuple{wire::Bool{&TlsState::active}, wire::Bool{&TlsState::pbsz},
                 wire::Bool{&TlsState::prot_private}, wire::Text{&TlsState::tag, kMaxTlsTag},
                 wire::Text{&TlsState::session, kMaxTlsSession}};
};

// The control connection goes to the helper (its fd travels with this message): to
// the post-login worker after a login, or to a fresh pre-login worker after REIN.
// With TLS the fd is the plaintext side of the pre-login worker's TLS relay.
struct Handover {
  std::string pending;  // control bytes read but not yet handled (pipelining)
  bool relay = false;   // the sender stays alive as the TLS relay (not to be reaped now)
  TlsState tls;
};
constexpr size_t kMaxPending = 16 * 1024;
template <>
struct IpcLayout<Handover> {
  static constexpr MsgType type = MsgType::kHandover;
  static constexpr auto fields =
      std::tuple{wire::Text{&Handover::pending, kMaxPending}, wire::Bool{&Handover::relay},
                 wire::Nested{&Handover::tls}};
  static Status check(const Handover& h);  // no TLS details without TLS
};

struct Port20Request {
  sockaddr_storage peer{};  // AF_INET or AF_INET6 with address and port
};
struct Port20Result {
  bool ok = false;
  std::string text;  // why not, when !ok; when ok the bound socket travels with it
};
template <>
struct IpcLayout<Port20Request> {
  static constexpr MsgType type = MsgType::kPort20Socket;
  using Reply = Port20Result;
  static constexpr auto fields = std::tuple{wire::Peer{&Port20Request::peer}};
};
template <>
struct IpcLayout<Port20Result> {
  static constexpr MsgType type = MsgType::kPort20Result;
  static constexpr auto fields = std::tuple{wire::Bool{&Port20Result::ok},
                                            wire::Text{&Port20Result::text, kMaxReplyText}};
};

// A failed login, reported by a session's helper to the master's modules (login_failed).
struct LoginFailed {
  std::string user;  // as the client gave it, at most kMaxUserLen bytes
};
template <>
struct IpcLayout<LoginFailed> {
  static constexpr MsgType type = MsgType::kLoginFailed;
  static constexpr auto fields = std::tuple{wire::Text{&LoginFailed::user, kMaxUserLen}};
};

// A module's privileged request (host->privileged): which loaded module asks (its
// load_module index, set by the core, never by the module), the module's own request
// type, and a payload the module's priv_handler in the helper validates.
constexpr size_t kMaxModulePayload = 4096;
struct ModulePrivRequest {
  uint16_t module = 0;
  uint16_t type = 0;
  std::vector<uint8_t> payload;
};
struct ModulePrivResult {
  bool ok = false;  // the module's priv_handler granted it
};
template <>
struct IpcLayout<ModulePrivRequest> {
  static constexpr MsgType type = MsgType::kModulePriv;
  using Reply = ModulePrivResult;
  static constexpr auto fields =
      std::tuple{wire::Uint{&ModulePrivRequest::module}, wire::Uint{&ModulePrivRequest::type},
                 wire::Blob{&ModulePrivRequest::payload, kMaxModulePayload}};
};
template <>
struct IpcLayout<ModulePrivResult> {
  static constexpr MsgType type = MsgType::kModulePrivResult;
  static constexpr auto fields = std::tuple{wire::Bool{&ModulePrivResult::ok}};
};

// ---- the generic codec and the typed call --------------------------------

template <class M>
concept IpcMessage = requires { IpcLayout<M>::type; IpcLayout<M>::fields; };

template <class M>
std::vector<uint8_t> encode(const M& m) {
  IpcWriter w;
  std::apply([&](const auto&... f) { (f.put(w, m), ...); }, IpcLayout<M>::fields);
  return w.data();
}

// Strict: every field within its bounds, no byte left over, the layout's check passed.
template <class M>
Result<M> decode(std::span<const uint8_t> p) {
  IpcReader r(p);
  M m{};
  Status st = Ok{};
  std::apply([&](const auto&... f) { ((st = st ? f.get(r, m) : st), ...); },
             IpcLayout<M>::fields);
  if (!st) return fail(st.error());
  if (auto end = r.finish(); !end) return fail(end.error());
  if constexpr (requires { IpcLayout<M>::check(m); })
    if (auto c = IpcLayout<M>::check(m); !c) return fail(c.error());
  return m;
}

template <IpcMessage M>
Status ipc_send(int sock, const M& m, std::span<const int> fds = {}) {
  return ipc_send(sock, IpcLayout<M>::type, encode(m), fds);
}

// A decoded message with the descriptors that came with it.
template <class M>
struct Received {
  M body;
  std::vector<UniqueFd> fds;
};

std::string ipc_type_error(MsgType got, MsgType expected);

// The message must be an M: anything else is an error, as a malformed M is.
template <IpcMessage M>
Result<Received<M>> ipc_expect(Message&& msg) {
  if (msg.type != IpcLayout<M>::type) return fail(ipc_type_error(msg.type, IpcLayout<M>::type));
  auto body = decode<M>(msg.payload);
  if (!body) return fail(body.error());
  return Received<M>{std::move(*body), std::move(msg.fds)};
}

template <IpcMessage M>
Result<Received<M>> ipc_recv_expect(int sock) {
  auto msg = ipc_recv(sock);
  if (!msg) return fail(msg.error());
  return ipc_expect<M>(std::move(*msg));
}

// One round trip: the request, then its reply and nothing else (OpenSSH's
// mm_request_receive_expect). Every worker-side helper call goes through here.
template <IpcMessage Req>
Result<Received<typename IpcLayout<Req>::Reply>> ipc_call(int sock, const Req& req,
                                                           std::span<const int> fds = {}) {
  if (auto st = ipc_send(sock, req, fds); !st) return fail(st.error());
  return ipc_recv_expect<typename IpcLayout<Req>::Reply>(sock);
}

}  // namespace moat
