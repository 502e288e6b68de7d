#include "tsdb/compact/job_runner.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "tsdb/base/error.h"

namespace promblock::compact {

JobRunner::JobRunner(const std::vector<Job>& jobs, int concurrency)
    : jobs_(jobs),
      concurrency_(size_t(std::max(1, concurrency))),
      outputs_(jobs.size()),
      errors_(jobs.size()) {}

// The jobs to start next: not started, every job they read finished.
std::vector<size_t> JobRunner::next_wave(const std::vector<bool>& started) const {
  std::vector<size_t> wave;
  for (size_t i = 0; i < jobs_.size() && wave.size() < concurrency_; ++i) {
    if (started[i]) continue;
    bool ready = std::all_of(jobs_[i].inputs.begin(), jobs_[i].inputs.end(), [&](const auto& in) {
      return !in.is_job ||
             (started[in.index] && (outputs_[in.index] || !errors_[in.index].empty()));
    });
    if (ready) wave.push_back(i);
  }
  return wave;
}

void JobRunner::run(const std::function<FoundBlock(size_t)>& run,
                    const std::function<void(size_t)>& finished) {
  std::vector<bool> started(jobs_.size(), false);
  for (;;) {
    auto wave = next_wave(started);
    if (wave.empty()) break;  // all done: jobs only read earlier ones
    for (size_t i : wave) started[i] = true;
    if (wave.size() == 1) {
      run_one(wave[0], run);
    } else {
      std::vector<std::thread> threads;
      for (size_t i : wave) threads.emplace_back([this, i, &run] { run_one(i, run); });
      for (auto& t : threads) t.join();
    }
    for (size_t i : wave) finished(i);
  }
}

// Touches only job i's slots: safe beside other jobs of its wave.
void JobRunner::run_one(size_t i, const std::function<FoundBlock(size_t)>& run) {
  try {
    for (const auto& in : jobs_[i].inputs)
      if (in.is_job && !outputs_[in.index])
        throw Error("input job " + std::to_string(in.index + 1) + " failed");
    outputs_[i] = run(i);
  } catch (const std::exception& e) {
    errors_[i] = e.what();
  }
}

}  // namespace promblock::compact
