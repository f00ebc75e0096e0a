// SPDX-License-Identifier: GPL-2.0-or-later
// Filling the heap's holes before fork. An idle session's worker wrote 50-200 bytes
// into each of about 36 heap pages it inherited: each small malloc took a chunk freed
// long before (configuration parsing, libseccomp, NSS) on a page of its own, and each
// such page became a private copy, about 100 KiB per process. Once the holes are taken
// (they stay resident in the parent anyway), a child's allocations go to the top of
// the heap, a few contiguous pages.
#include "core/master/heap_holes.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace moat {

namespace {

// Largest request tried: bigger free chunks are split by it until none is left.
constexpr size_t kLargest = 64 * 1024;
// glibc's chunk sizes go up in steps of 16 bytes; one request per step below 1 KiB
// reaches every tcache and small bin, including those only an exact size takes.
constexpr size_t kStep = 16;
constexpr size_t kSmallLimit = 1024;
// A bound on the chunks taken per size, should malloc never reach its top chunk.
constexpr int kMaxPerSize = 1 << 16;
// What the per-thread cache may hold on top of what mallinfo2 counts as free: at most
// 7 chunks of each of its 64 sizes, the largest 1040 bytes.
constexpr size_t kTcacheBytes = 7 * 64 * 1040;

// The taken chunks, linked through their own first bytes: reachable, so never
// reported as leaks, and costing no memory of their own.
void* g_taken = nullptr;

// The free chunks below the top chunk, which malloc hands out before carving from the
// top: where the top starts, and how many bytes they hold. Read once (mallinfo2 walks
// every bin), then each request is judged by its address, and the byte count bounds
// what is taken should the heap not be one contiguous brk area.
struct Holes {
  uintptr_t top;
  size_t bytes;
};

[[maybe_unused]] Holes holes_now() {  // unused under ASan
  const struct mallinfo2 m = mallinfo2();
  const auto brk = reinterpret_cast<uintptr_t>(sbrk(0));
  return {brk - m.keepcost, m.fordblks - m.keepcost + kTcacheBytes};
}

// False once a request of this size is carved from the top (or the holes' bytes are
// spent): no hole of this size is left.
[[maybe_unused]] bool take_one(size_t size, Holes& holes) {
  void* p = malloc(size);
  if (p == nullptr) return false;
  const size_t got = malloc_usable_size(p);
  if (reinterpret_cast<uintptr_t>(p) >= holes.top || got > holes.bytes) {
    free(p);
    return false;
  }
  holes.bytes -= got;
  *static_cast<void**>(p) = g_taken;
  g_taken = p;
  return true;
}

}  // namespace

void heap_fill_holes() {
#if defined(__SANITIZE_ADDRESS__)
  return;  // the sanitizer's allocator has no brk heap to fill
#else
  Holes holes = holes_now();
  auto take_all = [&holes](size_t size) {
    for (int i = 0; i < kMaxPerSize && take_one(size, holes); ++i) {
    }
  };
  for (size_t size = kLargest; size > kSmallLimit; size /= 2) take_all(size);
  for (size_t size = kSmallLimit; size >= kStep; size -= kStep) take_all(size - 8);
#endif
}

}  // namespace moat
