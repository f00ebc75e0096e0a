// SPDX-License-Identifier: GPL-2.0-or-later
// Typed messages between a session's root helper and its worker, over one
// SOCK_SEQPACKET socketpair: header {u16 type, u16 flags, u32 len}, payload <= 64 KiB,
// file descriptors by SCM_RIGHTS. Every message has one struct and one decoder.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util.hpp"

namespace moat {

enum class MsgType : uint16_t {
  kLogin = 1,         // worker -> helper: LoginRequest
  kLoginResult = 2,   // helper -> worker: LoginResult
  kHandover = 3,      // worker -> helper: Handover + the control socket fd
  kPort20Socket = 4,  // worker -> helper: Port20Request
  kPort20Result = 5,  // helper -> worker: Port20Result (+ a bound socket fd on success)
  kLoginFailed = 6,   // helper -> master (privsep/master_link): LoginFailed
  kChownUpload = 7,   // worker -> helper: ChownUpload + the uploaded file's fd
  kChownUploadResult = 8,  // helper -> worker: ChownUploadResult
  kModulePriv = 9,         // worker -> helper: ModulePrivRequest (+ at most one fd)
  kModulePrivResult = 10,  // helper -> worker: ModulePrivResult
  kKeySign = 11,           // worker -> helper -> key holder: KeySignRequest (privsep/key_ops)
  kKeySignResult = 12,     // key holder -> helper -> worker: KeySignResult
  kLogEvent = 13,          // worker -> helper: LogRequest (privsep/log_relay), no answer
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

// Appends fixed-width little-endian integers and length-prefixed strings.
class IpcWriter {
 public:
  void u8(uint8_t v);
  void u16(uint16_t v);
  void u32(uint32_t v);
  void str(std::string_view s);  // u32 length + bytes
  void bytes(std::span<const uint8_t> b);  // u32 length + bytes
  const std::vector<uint8_t>& data() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

// Checked reads: each either yields a value or an error the caller handles.
class IpcReader {
 public:
  explicit IpcReader(std::span<const uint8_t> data) : data_(data) {}
  Result<uint8_t> u8();
  Result<uint16_t> u16();
  Result<uint32_t> u32();
  Result<std::string> str(size_t max_len);
  Result<std::vector<uint8_t>> bytes(size_t max_len);
  bool at_end() const { return pos_ == data_.size(); }
  Status finish() const;  // error unless every byte was consumed

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
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

struct LoginRequest {
  std::string user;
  std::string pass;
};
std::vector<uint8_t> encode(const LoginRequest& m);
Result<LoginRequest> decode_login_request(std::span<const uint8_t> p);

struct LoginResult {
  bool ok = false;
  bool fatal = false;  // the helper ends the session after this reply
  std::string text;    // reply text after the code, e.g. "Login incorrect."
};
std::vector<uint8_t> encode(const LoginResult& m);
Result<LoginResult> decode_login_result(std::span<const uint8_t> p);

struct Handover {
  std::string pending;  // control bytes read but not yet handled (pipelining)
  // The control connection's TLS state (core/worker.hpp TlsState); the fd that travels
  // is then the plaintext side of the pre-login worker's TLS relay.
  bool tls = false;
  bool relay = false;  // the sender stays alive as the TLS relay (not to be reaped now)
  bool pbsz = false;
  bool prot_private = false;
  std::string tls_tag;      // at most kMaxTlsTag bytes
  std::string tls_session;  // at most kMaxTlsSession bytes
};
constexpr size_t kMaxTlsTag = 64;
constexpr size_t kMaxTlsSession = 8192;
constexpr size_t kMaxPending = 16 * 1024;
std::vector<uint8_t> encode(const Handover& m);
Result<Handover> decode_handover(std::span<const uint8_t> p);

struct Port20Request {
  sockaddr_storage peer{};  // AF_INET or AF_INET6 with address and port
};
std::vector<uint8_t> encode(const Port20Request& m);
Result<Port20Request> decode_port20_request(std::span<const uint8_t> p);

struct Port20Result {
  bool ok = false;
  std::string text;  // why not, when !ok
};
std::vector<uint8_t> encode(const Port20Result& m);
Result<Port20Result> decode_port20_result(std::span<const uint8_t> p);

// A failed login, reported by a session's helper to the master's modules (login_failed).
struct LoginFailed {
  std::string user;  // as the client gave it, at most kMaxUserLen bytes
};
std::vector<uint8_t> encode(const LoginFailed& m);
Result<LoginFailed> decode_login_failed(std::span<const uint8_t> p);

// chown_uploads: give the anonymous upload whose fd travels with this message to
// chown_username. No fields: the helper trusts nothing but the fd, which it checks.
struct ChownUpload {};
std::vector<uint8_t> encode(const ChownUpload& m);
Result<ChownUpload> decode_chown_upload(std::span<const uint8_t> p);

// Sent only on success: a refused request ends the session instead.
struct ChownUploadResult {
  bool ok = false;
};
std::vector<uint8_t> encode(const ChownUploadResult& m);
Result<ChownUploadResult> decode_chown_upload_result(std::span<const uint8_t> p);

// A module's privileged request (host->privileged): which loaded module asks (its
// load_module index, set by the core, never by the module), the module's own request
// type, and a payload the module's priv_handler in the helper validates.
constexpr size_t kMaxModulePayload = 4096;
struct ModulePrivRequest {
  uint16_t module = 0;
  uint16_t type = 0;
  std::vector<uint8_t> payload;
};
std::vector<uint8_t> encode(const ModulePrivRequest& m);
Result<ModulePrivRequest> decode_module_priv_request(std::span<const uint8_t> p);

struct ModulePrivResult {
  bool ok = false;  // the module's priv_handler granted it
};
std::vector<uint8_t> encode(const ModulePrivResult& m);
Result<ModulePrivResult> decode_module_priv_result(std::span<const uint8_t> p);

}  // namespace moat
