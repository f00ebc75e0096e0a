// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the address and argument parsers of PORT, EPRT, EPSV, LIST
// and MDTM/MFMT, with round-trip checks where a parse succeeds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/protocol/ftpcmd.hpp"
#include "core/protocol/ls.hpp"

namespace {

void check_port(std::string_view s) {
  auto r = moat::parse_port_arg(s);
  if (r.ok() && (r->ss_family != AF_INET || moat::sockaddr_port(*r) == 0)) abort();
}

void check_eprt(std::string_view s) {
  moat::EprtArg e = moat::parse_eprt_arg(s);
  if (e.status != moat::EprtArg::kOk) return;
  if (e.addr.ss_family != AF_INET && e.addr.ss_family != AF_INET6) abort();
  if (moat::sockaddr_port(e.addr) == 0 || moat::sockaddr_host_text(e.addr).empty()) abort();
  if (!moat::same_host(e.addr, e.addr)) abort();
}

void check_mdtm(std::string_view s) {
  auto t = moat::parse_mdtm(s);
  if (!t.ok()) return;
  // What parses re-formats to the same 14 digits (leap second 60 rolls over).
  std::string back = moat::time_mdtm(*t);
  if (s.substr(12, 2) != "60" && back != s.substr(0, 14)) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  check_port(s);
  check_eprt(s);
  moat::parse_epsv_arg(s);
  moat::ListArgs a = moat::parse_list_args(s);
  if (a.path.size() > s.size()) abort();
  check_mdtm(s);
  return 0;
}
