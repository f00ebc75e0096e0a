// SPDX-License-Identifier: GPL-2.0-or-later
// Memory for what the master writes for each client (its session table, libevent's
// objects), in a mapping no child inherits: the master's writes to it copy no page
// that the sessions forked before would keep.
#pragma once

#include <memory>
#include <memory_resource>
#include <utility>

namespace moat {

// Maps that memory and sends libevent's allocations to it from now on; call it once,
// in the process that runs the master's loop (after daemon(): a child sees it zeroed),
// before the loop. False where the kernel cannot keep a mapping
// out of children (MADV_WIPEONFORK, Linux 4.14) or under AddressSanitizer (which
// checks only heap blocks): everything then stays on the heap, as before.
bool master_memory_start();

// A pool in that memory once started, the heap before or without it.
std::pmr::memory_resource* master_memory();

// True for an address in that memory (tests).
bool master_memory_contains(const void* p);

// An object in master_memory(), freed where it was made (the heap if made before start).
template <class T>
struct MasterMemoryDelete {
  std::pmr::memory_resource* from = nullptr;
  void operator()(T* p) const { std::pmr::polymorphic_allocator<T>(from).delete_object(p); }
};
template <class T>
using MasterMemoryPtr = std::unique_ptr<T, MasterMemoryDelete<T>>;

template <class T, class... Args>
MasterMemoryPtr<T> master_memory_new(Args&&... args) {
  std::pmr::polymorphic_allocator<T> alloc(master_memory());
  return MasterMemoryPtr<T>(alloc.template new_object<T>(std::forward<Args>(args)...),
                            {alloc.resource()});
}

}  // namespace moat
