#pragma once
// The time compaction decides by (block ages, delays, lock heartbeats and
// expiries), passed around as a value so that tests can set it.
#include <chrono>
#include <cstdint>
#include <functional>

namespace promblock::compact {

// Unix time in milliseconds.
using Clock = std::function<int64_t()>;

inline int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace promblock::compact
