#pragma once
// Runs independent calls at once (downloads, opening many blocks): fn(i)
// for every i in [0, n), on up to `threads` threads, returning when all
// are done. After a failure no further call
// starts; the first exception is rethrown once the running ones finish.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace promblock {

template <typename Fn>
void parallel_for(size_t n, size_t threads, Fn&& fn) {
  threads = std::max<size_t>(1, std::min(threads, n));
  if (threads == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }  // joined here
  if (error) std::rethrow_exception(error);
}

}  // namespace promblock
