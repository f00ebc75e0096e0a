// SPDX-License-Identifier: GPL-2.0-or-later
// How an allow-list is written: rows of a syscall and its argument tests, as data a
// reviewer can read. Shared by the workers' tables (seccomp.cpp) and by a module's
// child that builds its own filter (mod_iplimit's Redis child): header-only, so a
// module needs libseccomp but nothing of the core.
#pragma once

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>

namespace moat::seccomp_rule {

// One allow-list entry: a syscall, up to three argument tests (all must hold), and
// the action when they do. Entries for the same syscall are alternatives.
struct Rule {
  int nr;
  std::array<scmp_arg_cmp, 3> cmp{};
  unsigned ncmp = 0;
  uint32_t action = SCMP_ACT_ALLOW;
};

constexpr scmp_arg_cmp eq(unsigned arg, scmp_datum_t v) { return {arg, SCMP_CMP_EQ, v, 0}; }

// (arg & mask) == value, on the low 32 bits: int arguments may carry any high half.
constexpr scmp_arg_cmp masked(unsigned arg, uint32_t mask, uint32_t value) {
  return {arg, SCMP_CMP_MASKED_EQ, mask, value};
}

constexpr Rule allow(int nr) { return Rule{nr}; }
constexpr Rule allow(int nr, scmp_arg_cmp a) { return Rule{nr, {a}, 1}; }
constexpr Rule allow(int nr, scmp_arg_cmp a, scmp_arg_cmp b) { return Rule{nr, {a, b}, 2}; }
constexpr Rule allow(int nr, scmp_arg_cmp a, scmp_arg_cmp b, scmp_arg_cmp c) {
  return Rule{nr, {a, b, c}, 3};
}
constexpr Rule refuse(int nr, int err, scmp_arg_cmp a) {
  return Rule{nr, {a}, 1, static_cast<uint32_t>(SCMP_ACT_ERRNO(static_cast<uint32_t>(err)))};
}

constexpr scmp_arg_cmp kNoExec = masked(2, PROT_EXEC, 0);
constexpr scmp_arg_cmp kStream = masked(1, ~uint32_t{SOCK_NONBLOCK | SOCK_CLOEXEC}, SOCK_STREAM);

}  // namespace moat::seccomp_rule
