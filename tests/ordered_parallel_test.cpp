#include "tsdb/base/ordered_parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace promblock {
namespace {

struct Item {
  int n = 0;
  int squared = 0;
};

// Items finish out of order (later ones sleep less); consume must still
// see them in production order, each processed once.
std::vector<int> run(size_t threads, size_t window, int count) {
  int next = 0;
  std::vector<int> seen;
  ordered_parallel<Item>(
      threads, window,
      [&](Item& it) {
        if (next == count) return false;
        it.n = next++;
        return true;
      },
      [&](Item& it) {
        std::this_thread::sleep_for(std::chrono::microseconds((count - it.n) % 7 * 50));
        it.squared = it.n * it.n;
      },
      [&](Item& it) {
        EXPECT_EQ(it.squared, it.n * it.n);
        seen.push_back(it.n);
      });
  return seen;
}

TEST(OrderedParallel, KeepsProductionOrder) {
  for (size_t threads : {1, 2, 4}) {
    auto seen = run(threads, threads + 1, 500);
    ASSERT_EQ(seen.size(), 500u) << threads;
    for (int i = 0; i < 500; ++i) ASSERT_EQ(seen[size_t(i)], i) << threads;
  }
}

TEST(OrderedParallel, NothingToDo) { EXPECT_TRUE(run(3, 4, 0).empty()); }

TEST(OrderedParallel, BoundsItemsInFlight) {
  std::atomic<int> in_flight{0};
  int max_seen = 0, next = 0;
  ordered_parallel<Item>(
      3, 4,
      [&](Item& it) {
        if (next == 200) return false;
        it.n = next++;
        max_seen = std::max(max_seen, ++in_flight);
        return true;
      },
      [&](Item&) { std::this_thread::sleep_for(std::chrono::microseconds(100)); },
      [&](Item&) { --in_flight; });
  EXPECT_LE(max_seen, 4);
  EXPECT_GE(max_seen, 2);  // it did run things side by side
}

TEST(OrderedParallel, WorkerErrorReachesCaller) {
  for (size_t threads : {1, 3}) {
    int next = 0, consumed = 0;
    auto go = [&] {
      ordered_parallel<Item>(
          threads, threads + 1,
          [&](Item& it) {
            it.n = next++;
            return it.n < 1000;
          },
          [&](Item& it) {
            if (it.n == 37) throw std::runtime_error("item 37 is bad");
          },
          [&](Item&) { ++consumed; });
    };
    EXPECT_THROW(go(), std::runtime_error) << threads;
    EXPECT_EQ(consumed, 37) << threads;  // everything before the bad item, nothing after
  }
}

TEST(OrderedParallel, ConsumerErrorStopsWorkers) {
  int next = 0;
  EXPECT_THROW(ordered_parallel<Item>(
                   2, 3,
                   [&](Item& it) {
                     it.n = next++;
                     return true;  // endless: only the error ends it
                   },
                   [&](Item&) {},
                   [&](Item& it) {
                     if (it.n == 10) throw std::runtime_error("disk full");
                   }),
               std::runtime_error);
  EXPECT_LT(next, 20);
}

}  // namespace
}  // namespace promblock
