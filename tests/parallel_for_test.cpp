// parallel_for: every index once, really at once, and failures stop it.
#include "tsdb/base/parallel_for.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace promblock {
namespace {

TEST(ParallelFor, CallsEveryIndexOnce) {
  std::vector<std::atomic<int>> calls(100);
  parallel_for(calls.size(), 4, [&](size_t i) { ++calls[i]; });
  for (const auto& c : calls) EXPECT_EQ(c.load(), 1);
  parallel_for(0, 4, [&](size_t) { FAIL() << "no index to call"; });
}

TEST(ParallelFor, RunsUpToThreadsCallsAtOnce) {
  std::atomic<int> running{0}, most{0};
  parallel_for(8, 4, [&](size_t) {
    int now = ++running;
    for (int m = most; now > m && !most.compare_exchange_weak(m, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --running;
  });
  EXPECT_EQ(most.load(), 4);
}

TEST(ParallelFor, RethrowsTheFailureAndStartsNothingAfterIt) {
  std::atomic<int> started{0};
  // The other calls take a while, as downloads do: otherwise the second
  // thread can finish all of them while the throw unwinds (slow under ASan).
  EXPECT_THROW(parallel_for(1000, 2,
                            [&](size_t i) {
                              ++started;
                              if (i == 3) throw std::runtime_error("object 3: gone");
                              std::this_thread::sleep_for(std::chrono::milliseconds(1));
                            }),
               std::runtime_error);
  EXPECT_LT(started.load(), 1000);
}

}  // namespace
}  // namespace promblock
