// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/heap_holes: after it, small allocations come from the top of the heap.
#include "core/master/heap_holes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace moat {
namespace {

TEST(HeapHoles, SmallAllocationsComeFromTheTop) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "not glibc's allocator";
#endif
  std::vector<void*> blocks;
  for (int i = 0; i < 4000; ++i) blocks.push_back(malloc(i % 2 ? 40 : 600));
  void* fence = malloc(64);  // keeps the last hole from merging into the top
  // Every hole made below lies below the highest block.
  char* highest = static_cast<char*>(*std::max_element(blocks.begin(), blocks.end()));
  for (size_t i = 0; i < blocks.size(); i += 3) free(blocks[i]);  // holes of both sizes
  std::vector<void*> probes;
  // Above every block: carved from the top (the heap is contiguous in this process).
  auto above_fence = [&](size_t size) {
    probes.push_back(malloc(size));
    return static_cast<char*>(probes.back()) > highest;
  };
  ASSERT_FALSE(above_fence(40));  // the precondition: a hole serves it
  heap_fill_holes();
  EXPECT_TRUE(above_fence(40));
  EXPECT_TRUE(above_fence(600));
  EXPECT_TRUE(above_fence(2000));
  for (void* p : probes) free(p);
  for (size_t i = 0; i < blocks.size(); ++i)
    if (i % 3 != 0) free(blocks[i]);
  free(fence);
}

}  // namespace
}  // namespace moat
