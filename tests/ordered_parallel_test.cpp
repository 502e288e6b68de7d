#include "tsdb/base/ordered_parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace promblock {
namespace {

struct Item {
  int n = 0;
  int squared = 0;
};

// With workers, every even item waits until the odd one after it is
// processed, where that one has been made, so items finish out of order;
// consume must still see them in production order, each processed once.
// (An odd item not made yet is not waited for: on two threads the calling
// thread, which makes items, processes some itself. One that is made is
// taken in order, by a thread not waiting on an older item.)
struct Outcome {
  std::vector<int> seen;      // consumed
  std::vector<int> finished;  // processed
};

Outcome run(size_t threads, size_t window, int count) {
  int next = 0;
  Outcome r;
  std::mutex mu;
  std::condition_variable cv;
  ordered_parallel<Item>(
      threads, window,
      [&](Item& it) {
        std::lock_guard lock(mu);
        if (next == count) return false;
        it.n = next++;
        return true;
      },
      [&](Item& it) {
        std::unique_lock lock(mu);
        if (threads > 1 && it.n % 2 == 0 && it.n + 1 < next)
          cv.wait(lock, [&] {
            return std::find(r.finished.begin(), r.finished.end(), it.n + 1) != r.finished.end();
          });
        it.squared = it.n * it.n;
        r.finished.push_back(it.n);
        cv.notify_all();
      },
      [&](Item& it) {
        EXPECT_EQ(it.squared, it.n * it.n);
        r.seen.push_back(it.n);
      });
  return r;
}

TEST(OrderedParallel, KeepsProductionOrder) {
  for (size_t threads : {1, 2, 4}) {
    Outcome r = run(threads, threads + 1, 500);
    ASSERT_EQ(r.seen.size(), 500u) << threads;
    for (int i = 0; i < 500; ++i) ASSERT_EQ(r.seen[size_t(i)], i) << threads;
    EXPECT_EQ(std::is_sorted(r.finished.begin(), r.finished.end()), threads == 1)
        << threads << ": with workers, items finish out of order";
  }
}

TEST(OrderedParallel, HandsConsumedItemsBackToProduce) {
  for (size_t threads : {1, 3}) {
    int next = 0, reused = 0;
    ordered_parallel<Item>(
        threads, threads + 1,
        [&](Item& it) {
          reused += it.squared != 0;  // processed before: a consumed item
          if (next == 100) return false;
          it.n = next++;
          it.squared = 0;
          return true;
        },
        [](Item& it) { it.squared = it.n * it.n + 1; }, [](Item&) {});
    // All but the first window's items (and the first with one thread).
    EXPECT_GE(reused, 100 - int(threads + 1)) << threads;
  }
}

// On two threads the calling thread processes items while it waits: with
// one worker stuck on item 0 until item 1 is done, only the calling thread
// can do item 1. With more threads it only makes and consumes them.
TEST(OrderedParallel, CallingThreadProcessesOnTwoThreadsOnly) {
  for (size_t threads : {2, 4}) {
    const auto caller = std::this_thread::get_id();
    int next = 0, by_caller = 0;
    bool one_done = false, zero_by_worker = false, zero_waited = false;
    std::mutex mu;
    std::condition_variable cv;
    ordered_parallel<Item>(
        threads, threads + 1,
        [&](Item& it) {
          if (next == 50) return false;
          it.n = next++;
          return true;
        },
        [&](Item& it) {
          std::unique_lock lock(mu);
          by_caller += std::this_thread::get_id() == caller;
          if (it.n == 0 && std::this_thread::get_id() != caller) {
            zero_by_worker = true;
            zero_waited = cv.wait_for(lock, std::chrono::seconds(10), [&] { return one_done; });
          }
          if (it.n == 1) one_done = true, cv.notify_all();
        },
        [](Item&) {});
    if (threads == 2) {
      EXPECT_GT(by_caller, 0);
      if (zero_by_worker) EXPECT_TRUE(zero_waited) << "item 1 was left to the stuck worker";
    } else {
      EXPECT_EQ(by_caller, 0) << threads;
    }
  }
}

TEST(OrderedParallel, NothingToDo) { EXPECT_TRUE(run(3, 4, 0).seen.empty()); }

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
      [&](Item&) {}, [&](Item&) { --in_flight; });
  EXPECT_LE(max_seen, 4);
  EXPECT_EQ(max_seen, 4);  // the window fills before the first item is consumed
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
