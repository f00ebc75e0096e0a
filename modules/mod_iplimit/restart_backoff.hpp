// SPDX-License-Identifier: GPL-2.0-or-later
// When mod_iplimit's master starts its Redis child again after it died: soon after a
// child that had been working a while, later and later after one that dies at once
// (a sandbox that cannot be entered, a crash on what Redis holds), so that a node
// never spends its time forking children that cannot live.
#pragma once

#include <cstdint>

class RestartBackoff {
 public:
  static constexpr uint64_t kFirstMs = 1000;     // the first wait, and after a settled child
  static constexpr uint64_t kLongestMs = 60000;  // doubling stops here
  // A child that lived this long and had spoken to the master was working: the next
  // death is a new trouble, not the same one again.
  static constexpr uint64_t kSettledMs = 60000;

  void started(uint64_t now_ms) { started_ms_ = now_ms; }
  // The child is gone (found at now_ms); `spoke`: it said anything to the master, so
  // it got through its sandbox to Redis. Returns how long to wait before the next one.
  uint64_t exited(uint64_t now_ms, bool spoke);
  bool due(uint64_t now_ms) const { return now_ms >= next_ms_; }

 private:
  uint64_t started_ms_ = 0;
  uint64_t delay_ms_ = 0;  // the last wait; 0 before the first death
  uint64_t next_ms_ = 0;
};
