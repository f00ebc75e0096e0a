// SPDX-License-Identifier: GPL-2.0-or-later
// The master's own memory. Every page the master writes between two forks is copied
// once more and the old copy stays with the sessions forked before: after login
// traffic its session table and ConnInfos sat in freed chunks on a dozen heap pages
// (9-12 pages copied per client). A mapping marked MADV_WIPEONFORK is not shared with
// children at all (they see zero pages there), so the master writes it in place.
#include "core/master/master_memory.hpp"

#include <event2/event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace moat {
namespace {

// Address space only: pages become writable as the pool asks for them, and resident
// once written (under 1 KiB per session). 64-bit: room for over 100,000 sessions.
constexpr size_t kReserve = sizeof(void*) == 8 ? size_t{256} << 20 : size_t{16} << 20;
constexpr size_t kWritableStep = 64 * 1024;

// The reserved range, fixed once mapped: libevent's free() gives neither a size nor
// an owner, so a block's owner is told by its address.
char* g_begin = nullptr;
char* g_end = nullptr;

bool in_range(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  return a >= reinterpret_cast<uintptr_t>(g_begin) && a < reinterpret_cast<uintptr_t>(g_end);
}

// The pool's source: a bump pointer through the reserved range. The pool returns
// chunks only when it is destroyed, which the master's never is.
class Range final : public std::pmr::memory_resource {
 public:
  Range(size_t used, size_t writable) : used_(used), writable_(writable) {}

 private:
  void* do_allocate(size_t bytes, size_t align) override {
    const size_t start = (used_ + align - 1) & ~(align - 1);
    if (start + bytes > static_cast<size_t>(g_end - g_begin)) throw std::bad_alloc();
    if (start + bytes > writable_) grow(start + bytes);
    used_ = start + bytes;
    return g_begin + start;
  }
  void do_deallocate(void* p, size_t bytes, size_t) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    auto a = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
    auto end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
    if (end > a) madvise(reinterpret_cast<void*>(a), end - a, MADV_DONTNEED);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }

  void grow(size_t need) {
    const size_t want = (need + kWritableStep - 1) / kWritableStep * kWritableStep;
    const size_t to = std::min(want, static_cast<size_t>(g_end - g_begin));
    if (mprotect(g_begin + writable_, to - writable_, PROT_READ | PROT_WRITE) != 0)
      throw std::bad_alloc();
    writable_ = to;
  }

  size_t used_;
  size_t writable_;
};

// At the start of the range. A child sees it zeroed: `live` false, and libevent's
// allocations there go to the heap.
struct Memory {
  Memory(size_t used, size_t writable) : range(used, writable) {}
  bool live = true;
  Range range;
  // Every block size libevent asks for in the master (its epoll array tops out at
  // 384 KiB) is pooled and reused: only whole chunks come from the range.
  std::pmr::unsynchronized_pool_resource pool{{0, size_t{1} << 20}, &range};
};

Memory* g_memory = nullptr;

bool live() { return g_memory != nullptr && g_memory->live; }

// libevent's allocations, each after a header with its size (the pool needs it back).
struct alignas(std::max_align_t) Header {
  size_t size;
};

void* event_malloc(size_t n) {
  if (!live()) return std::malloc(n);
  try {
    auto* h = static_cast<Header*>(g_memory->pool.allocate(sizeof(Header) + n, alignof(Header)));
    h->size = n;
    return h + 1;
  } catch (const std::bad_alloc&) {
    return std::malloc(n);  // the range is full: the heap
  }
}

// A child never holds the master's libevent objects; one that frees or grows them is
// lost, and stops.
Header* ours(void* p) {
  if (!live()) std::abort();
  return static_cast<Header*>(p) - 1;
}

void event_free(void* p) {
  if (!in_range(p)) return std::free(p);
  Header* h = ours(p);
  g_memory->pool.deallocate(h, sizeof(Header) + h->size, alignof(Header));
}

void* event_realloc(void* p, size_t n) {
  if (p == nullptr) return event_malloc(n);
  if (!in_range(p)) return std::realloc(p, n);
  const size_t old = ours(p)->size;
  void* q = event_malloc(n);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, std::min(old, n));
  event_free(p);
  return q;
}

bool map_range() {
  void* m = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return false;
  const size_t first = kWritableStep;  // the Memory object, then the pool's first chunks
  if (madvise(m, kReserve, MADV_WIPEONFORK) != 0 ||
      mprotect(m, first, PROT_READ | PROT_WRITE) != 0) {
    munmap(m, kReserve);
    return false;
  }
  g_begin = static_cast<char*>(m);
  g_end = g_begin + kReserve;
  g_memory = new (g_begin) Memory(sizeof(Memory), first);
  return true;
}

}  // namespace

// Under AddressSanitizer everything stays on the heap, where it can check it (a plain
// branch rather than #if, so the code it skips is still compiled and type-checked).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

bool master_memory_start() {
  if (kSanitized) return false;
  if (g_memory != nullptr) return true;
  if (!map_range()) return false;
  event_set_mem_functions(event_malloc, event_realloc, event_free);
  return true;
}

std::pmr::memory_resource* master_memory() {
  return live() ? &g_memory->pool : std::pmr::new_delete_resource();
}

bool master_memory_contains(const void* p) { return in_range(p); }

}  // namespace moat
