#pragma once
// An ordered parallel map for pipelines whose ends are sequential: items are
// made one after another on the calling thread (produce), transformed on a
// pool of worker threads (process), and handed back to the calling thread in
// the order they were made (consume). A merge reads series in label order and
// must write them in that order; only the work in between runs in parallel.
//
// On two threads, one worker is started and the calling thread processes
// items too while it waits for the oldest: two workers and the calling
// thread contended for two cores, the calling thread waiting for a core
// while the workers, out of items, waited for it (a merge of a replica pair
// 3-5 % slower, a fortnight's compaction 12 %). With more threads, a worker
// each, as before: while the calling thread processes an item, no one makes
// new ones, and the more workers there are, the sooner they run out (the
// window holds few spare); only two cores were there to measure it on.
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

namespace ordered_parallel_detail {

// The state shared by the calling thread and the workers.
template <typename T>
class Pipeline {
 public:
  struct Slot {
    T item{};
    bool ready = false;
    std::exception_ptr error;
  };

  // Joins the workers before the slots they may still be using go.
  ~Pipeline();
  template <typename Process>
  void start(size_t threads, Process& process) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this, &process] { work(process); });
  }
  size_t in_flight() const { return in_flight_.size(); }
  // Queues a made item for the workers.
  void push(std::unique_ptr<Slot> slot);
  // The oldest item once processed; rethrows what processing it threw.
  // While it is not, `help` processes items no worker has taken yet.
  template <typename Process>
  std::unique_ptr<Slot> pop(Process& process, bool help);

 private:
  template <typename Process>
  void work(Process& process);
  template <typename Process>
  void run(Process& process, Slot* slot);
  Slot* next_todo();  // nullptr when stopping

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::unique_ptr<Slot>> in_flight_;  // production order
  std::deque<Slot*> todo_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <typename T>
Pipeline<T>::~Pipeline() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

template <typename T>
void Pipeline<T>::push(std::unique_ptr<Slot> slot) {
  {
    std::lock_guard lock(mu_);
    todo_.push_back(slot.get());
    in_flight_.push_back(std::move(slot));
  }
  work_cv_.notify_one();
}

template <typename T>
template <typename Process>
auto Pipeline<T>::pop(Process& process, bool help) -> std::unique_ptr<Slot> {
  std::unique_lock lock(mu_);
  for (;;) {
    done_cv_.wait(lock, [&] { return in_flight_.front()->ready || (help && !todo_.empty()); });
    if (in_flight_.front()->ready) break;
    Slot* slot = todo_.front();
    todo_.pop_front();
    lock.unlock();
    run(process, slot);
    lock.lock();
  }
  std::unique_ptr<Slot> next = std::move(in_flight_.front());
  in_flight_.pop_front();
  lock.unlock();
  if (next->error) std::rethrow_exception(next->error);
  return next;
}

template <typename T>
auto Pipeline<T>::next_todo() -> Slot* {
  std::unique_lock lock(mu_);
  work_cv_.wait(lock, [&] { return stopping_ || !todo_.empty(); });
  if (stopping_) return nullptr;
  Slot* slot = todo_.front();
  todo_.pop_front();
  return slot;
}

template <typename T>
template <typename Process>
void Pipeline<T>::run(Process& process, Slot* slot) {
  try {
    process(slot->item);
  } catch (...) {
    slot->error = std::current_exception();
  }
  {
    std::lock_guard lock(mu_);
    slot->ready = true;
  }
  done_cv_.notify_all();
}

template <typename T>
template <typename Process>
void Pipeline<T>::work(Process& process) {
  while (Slot* slot = next_todo()) run(process, slot);
}

}  // namespace ordered_parallel_detail

// produce(T&) -> bool fills an item, false when done; process(T&) runs on
// a worker or, on two threads, the calling one; consume(T&) sees items in
// production order. Consumed items are handed to produce again as they are,
// so that their buffers are reused (an item starts default-constructed):
// produce resets what it fills.
// threads <= 1 runs everything on the calling thread.
template <typename T, typename Produce, typename Process, typename Consume>
void ordered_parallel(size_t threads, size_t window, Produce&& produce, Process&& process,
                      Consume&& consume) {
  if (threads <= 1) {
    T item{};
    while (produce(item)) {
      process(item);
      consume(item);
    }
    return;
  }
  using Pipeline = ordered_parallel_detail::Pipeline<T>;
  const bool help = threads == 2;
  Pipeline pipeline;
  pipeline.start(help ? 1 : threads, process);
  std::unique_ptr<typename Pipeline::Slot> spare;
  bool more = true;
  while (more || pipeline.in_flight() > 0) {
    while (more && pipeline.in_flight() < window) {
      auto slot = spare ? std::move(spare) : std::make_unique<typename Pipeline::Slot>();
      slot->ready = false;
      more = produce(slot->item);
      if (more) pipeline.push(std::move(slot));
    }
    if (pipeline.in_flight() == 0) break;
    spare = pipeline.pop(process, help);
    consume(spare->item);
  }
}

}  // namespace promblock
