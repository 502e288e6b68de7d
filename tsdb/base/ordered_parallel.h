#pragma once
// An ordered parallel map for pipelines whose ends are sequential: items are
// made one after another on the calling thread (produce), transformed on a
// pool of worker threads (process), and handed back to the calling thread in
// the order they were made (consume). A merge reads series in label order and
// must write them in that order; only the work in between runs in parallel.
//
// At most `window` items are in flight, so memory stays bounded whatever the
// input size. An exception from any stage stops the pipeline and is rethrown
// on the calling thread once every worker has finished its current item.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace promblock {

// The number of threads "all cores" means here.
inline size_t default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// produce(T&) -> bool fills a default-constructed item, false when done;
// process(T&) runs on a worker; consume(T&) sees items in production order.
// threads <= 1 runs everything on the calling thread.
template <typename T, typename Produce, typename Process, typename Consume>
void ordered_parallel(size_t threads, size_t window, Produce&& produce, Process&& process,
                      Consume&& consume) {
  if (threads <= 1) {
    for (;;) {
      T item{};
      if (!produce(item)) return;
      process(item);
      consume(item);
    }
  }

  struct Slot {
    T item{};
    bool ready = false;
    std::exception_ptr error;
  };
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<std::unique_ptr<Slot>> in_flight;  // production order
  std::deque<Slot*> todo;
  bool stopping = false;

  auto worker = [&] {
    for (;;) {
      Slot* slot;
      {
        std::unique_lock lock(mu);
        work_cv.wait(lock, [&] { return stopping || !todo.empty(); });
        if (stopping) return;
        slot = todo.front();
        todo.pop_front();
      }
      try {
        process(slot->item);
      } catch (...) {
        slot->error = std::current_exception();
      }
      {
        std::lock_guard lock(mu);
        slot->ready = true;
      }
      done_cv.notify_all();
    }
  };

  // Declared after the slots so that it joins the workers before the slots
  // they may still be using are destroyed.
  struct Pool {
    std::vector<std::thread> threads;
    std::mutex& mu;
    std::condition_variable& work_cv;
    bool& stopping;
    ~Pool() {
      {
        std::lock_guard lock(mu);
        stopping = true;
      }
      work_cv.notify_all();
      for (auto& t : threads) t.join();
    }
  } pool{{}, mu, work_cv, stopping};
  for (size_t i = 0; i < threads; ++i) pool.threads.emplace_back(worker);

  bool more = true;
  while (more || !in_flight.empty()) {
    while (more && in_flight.size() < window) {
      auto slot = std::make_unique<Slot>();
      if (!produce(slot->item)) {
        more = false;
        break;
      }
      {
        std::lock_guard lock(mu);
        todo.push_back(slot.get());
        in_flight.push_back(std::move(slot));
      }
      work_cv.notify_one();
    }
    if (in_flight.empty()) break;
    std::unique_ptr<Slot> next;
    {
      std::unique_lock lock(mu);
      done_cv.wait(lock, [&] { return in_flight.front()->ready; });
      next = std::move(in_flight.front());
      in_flight.pop_front();
    }
    if (next->error) std::rethrow_exception(next->error);
    consume(next->item);
  }
}

}  // namespace promblock
