// SPDX-License-Identifier: GPL-2.0-or-later
// Filling the heap's holes before fork. An idle session's worker wrote 50-200 bytes
// into each of about 36 heap pages it inherited: each small malloc took a chunk freed
// long before (configuration parsing, libseccomp, NSS) on a page of its own, and each
// such page became a private copy, about 100 KiB per process. Once the holes are taken
// (they stay resident in the parent anyway), a child's allocations go to the top of
// the heap, a few contiguous pages.
#include "core/heap_holes.hpp"

#include <malloc.h>

#include <cstddef>

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

// The taken chunks, linked through their own first bytes: reachable, so never
// reported as leaks, and costing no memory of their own.
void* g_taken = nullptr;

// Where malloc carves when no free chunk fits: the top chunk, whose size is keepcost,
// and beyond it new memory (arena grows). Compared, not addresses: right whether or
// not the heap is contiguous.
struct Top {
  size_t size;
  size_t arena;
  bool operator==(const Top&) const = default;
};

Top top_now() {
  const struct mallinfo2 m = mallinfo2();
  return {m.keepcost, m.arena};
}

void take_holes_of(size_t size) {
  for (int i = 0; i < kMaxPerSize; ++i) {
    const Top before = top_now();
    void* p = malloc(size);
    if (p == nullptr) return;
    if (top_now() != before) {  // carved from the top: no hole of this size left
      free(p);
      return;
    }
    *static_cast<void**>(p) = g_taken;
    g_taken = p;
  }
}

}  // namespace

void heap_fill_holes() {
#if defined(__SANITIZE_ADDRESS__)
  return;  // the sanitizer's allocator has no brk heap to fill
#else
  for (size_t size = kLargest; size > kSmallLimit; size /= 2) take_holes_of(size);
  for (size_t size = kSmallLimit; size >= kStep; size -= kStep) take_holes_of(size - 8);
#endif
}

}  // namespace moat
