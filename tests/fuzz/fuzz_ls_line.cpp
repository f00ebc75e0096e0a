// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: a LIST line, an MLSD line and an MDTM time from the fast
// formatter must equal the plain reference's (ls_reference.hpp) for any stat, name,
// link target and format options the input spells.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "tests/fuzz/ls_reference.hpp"

namespace {

// Fixed-size fields from the front of the input, zeros once it runs out.
class Fields {
 public:
  Fields(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  template <typename T>
  T take() {
    T v{};
    size_t n = std::min(sizeof v, rest_.size());
    std::memcpy(&v, rest_.data(), n);
    rest_.remove_prefix(n);
    return v;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fields in(data, size);
  struct stat st {};
  st.st_mode = in.take<uint32_t>();
  st.st_nlink = in.take<uint64_t>();
  st.st_uid = in.take<uint32_t>();
  st.st_gid = in.take<uint32_t>();
  st.st_size = in.take<int64_t>();
  st.st_mtime = in.take<int64_t>();
  const auto flags = in.take<uint8_t>();
  moat::UserDb names;
  names.users.emplace(st.st_uid, std::string(flags & 15, 'u'));
  names.groups.emplace(st.st_gid, std::string(flags >> 4, 'g'));
  moat::ListFormat fmt;
  fmt.now = in.take<int32_t>();  // a clock's reading (time(2)), not any 64-bit value
  fmt.hide_ids = flags & 1;
  fmt.names = (flags & 2) ? &names : nullptr;
  std::string_view text = in.rest();
  size_t split = text.find('\0');
  std::string_view name = text.substr(0, split);
  std::string_view link = split == text.npos ? std::string_view() : text.substr(split + 1);
  if (moat::ls_long_line(st, name, link, fmt) != moat::reference::ls_line(st, name, link, fmt))
    abort();
  moat::MlsxFormat mlsx{(flags & 4) != 0, (flags & 8) != 0, static_cast<uid_t>(st.st_uid ^ (flags >> 6))};
  std::string_view type = (flags & 32) ? "cdir" : "";
  if (moat::mlsx_line(st, name, type, mlsx) != moat::reference::mlsx_line(st, name, type, mlsx))
    abort();
  if (moat::time_mdtm(st.st_mtime) != moat::reference::mdtm(st.st_mtime)) abort();
  return 0;
}
