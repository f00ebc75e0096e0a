// SPDX-License-Identifier: GPL-2.0-or-later
// The kinds of field a helper message is made of. A message's layout is a table of
// these (IpcLayout<M>::fields, next to its struct); the one encoder and the one
// strict decoder in ipc.hpp walk that table, so a message is described once.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/common/util.hpp"

namespace moat {

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

// An address with its port: a family byte (4 or 6), the address, the port as a number.
void ipc_put_peer(IpcWriter& w, const sockaddr_storage& ss);
Status ipc_get_peer(IpcReader& r, sockaddr_storage& out);

// A message's layout: `fields`, a tuple of the kinds below; a message that travels on
// its own also has `type` (its MsgType) and, if it is answered, `Reply`; `check`, if
// present, refuses a decoded value whose fields disagree with one another.
template <class M>
struct IpcLayout;

namespace wire {

template <class M>
struct Bool {  // u8, 0 or 1
  bool M::*f;
  void put(IpcWriter& w, const M& m) const { w.u8(m.*f ? 1 : 0); }
  Status get(IpcReader& r, M& m) const {
    auto v = r.u8();
    if (!v) return fail(v.error());
    if (*v > 1) return fail("ipc: boolean out of range");
    m.*f = *v == 1;
    return Ok{};
  }
};

template <class M>
struct Text {  // u32 length + bytes, at most max
  std::string M::*f;
  size_t max;
  void put(IpcWriter& w, const M& m) const { w.str(m.*f); }
  Status get(IpcReader& r, M& m) const {
    auto v = r.str(max);
    if (!v) return fail(v.error());
    m.*f = std::move(*v);
    return Ok{};
  }
};

template <class M>
struct Blob {  // u32 length + bytes, at most max
  std::vector<uint8_t> M::*f;
  size_t max;
  void put(IpcWriter& w, const M& m) const { w.bytes(m.*f); }
  Status get(IpcReader& r, M& m) const {
    auto v = r.bytes(max);
    if (!v) return fail(v.error());
    m.*f = std::move(*v);
    return Ok{};
  }
};

template <class M, class T>
struct Uint {  // u16 or u32, as wide as the field
  static_assert(std::is_same_v<T, uint16_t> || std::is_same_v<T, uint32_t>);
  T M::*f;
  void put(IpcWriter& w, const M& m) const {
    if constexpr (sizeof(T) == 2) {
      w.u16(m.*f);
    } else {
      w.u32(m.*f);
    }
  }
  Status get(IpcReader& r, M& m) const {
    auto v = read(r);
    if (!v) return fail(v.error());
    m.*f = *v;
    return Ok{};
  }
  static Result<T> read(IpcReader& r) {
    if constexpr (sizeof(T) == 2) {
      return r.u16();
    } else {
      return r.u32();
    }
  }
};

template <class M>
struct U64 {  // two u32, the low half first
  uint64_t M::*f;
  void put(IpcWriter& w, const M& m) const {
    w.u32(static_cast<uint32_t>(m.*f));
    w.u32(static_cast<uint32_t>(m.*f >> 32));
  }
  Status get(IpcReader& r, M& m) const {
    auto lo = r.u32();
    auto hi = lo ? r.u32() : lo;
    if (!hi) return fail(hi.error());
    m.*f = *lo | (static_cast<uint64_t>(*hi) << 32);
    return Ok{};
  }
};

template <class M, class E>
struct Enum8 {  // u8 in [lo, hi]
  E M::*f;
  uint8_t lo, hi;
  const char* what;  // for the error: "unknown log kind 9"
  void put(IpcWriter& w, const M& m) const { w.u8(static_cast<uint8_t>(m.*f)); }
  Status get(IpcReader& r, M& m) const {
    auto v = r.u8();
    if (!v) return fail(v.error());
    if (*v < lo || *v > hi) return fail(std::string("unknown ") + what + " " + std::to_string(*v));
    m.*f = static_cast<E>(*v);
    return Ok{};
  }
};

template <class M, size_t N>
struct Bits8 {  // booleans packed in one byte; a bit no field names is refused
  std::array<std::pair<bool M::*, uint8_t>, N> bits;
  void put(IpcWriter& w, const M& m) const {
    uint8_t v = 0;
    for (const auto& [f, bit] : bits) v |= m.*f ? bit : 0;
    w.u8(v);
  }
  Status get(IpcReader& r, M& m) const {
    auto v = r.u8();
    if (!v) return fail(v.error());
    uint8_t known = 0;
    for (const auto& [f, bit] : bits) m.*f = *v & bit, known |= bit;
    if (*v & ~known) return fail("ipc: unknown flags");
    return Ok{};
  }
};

template <class M>
struct Peer {
  sockaddr_storage M::*f;
  void put(IpcWriter& w, const M& m) const { ipc_put_peer(w, m.*f); }
  Status get(IpcReader& r, M& m) const { return ipc_get_peer(r, m.*f); }
};

template <class M, class S>
struct Nested {  // a struct's own layout, inline
  S M::*f;
  void put(IpcWriter& w, const M& m) const {
    std::apply([&](const auto&... x) { (x.put(w, m.*f), ...); }, IpcLayout<S>::fields);
  }
  Status get(IpcReader& r, M& m) const {
    Status st = Ok{};
    std::apply([&](const auto&... x) { ((st = st ? x.get(r, m.*f) : st), ...); },
               IpcLayout<S>::fields);
    return st;
  }
};

// Deduction guides: clang before 17 does not deduce an aggregate's arguments itself.
template <class M>
Bool(bool M::*) -> Bool<M>;
template <class M>
Text(std::string M::*, size_t) -> Text<M>;
template <class M>
Blob(std::vector<uint8_t> M::*, size_t) -> Blob<M>;
template <class M, class T>
Uint(T M::*) -> Uint<M, T>;
template <class M>
U64(uint64_t M::*) -> U64<M>;
template <class M, class E>
Enum8(E M::*, uint8_t, uint8_t, const char*) -> Enum8<M, E>;
template <class M>
Peer(sockaddr_storage M::*) -> Peer<M>;
template <class M, class S>
Nested(S M::*) -> Nested<M, S>;

}  // namespace wire
}  // namespace moat
