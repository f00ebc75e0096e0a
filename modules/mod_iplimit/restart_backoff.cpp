// SPDX-License-Identifier: GPL-2.0-or-later
// The Redis child's restart delays: 1 s, doubling to 60 s, back to 1 s once a child
// has worked for a minute.
#include "modules/mod_iplimit/restart_backoff.hpp"

#include <algorithm>

// A death is found only when a hook next runs, so a silent child's lifetime says
// nothing (it may have died at once, long before): only one that spoke can settle.
uint64_t RestartBackoff::exited(uint64_t now_ms, bool spoke) {
  const bool settled = spoke && now_ms - started_ms_ >= kSettledMs;
  delay_ms_ = (settled || delay_ms_ == 0) ? kFirstMs : std::min(delay_ms_ * 2, kLongestMs);
  next_ms_ = now_ms + delay_ms_;
  return delay_ms_;
}
