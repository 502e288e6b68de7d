#pragma once
// Runs planned jobs: a job starts once the jobs whose outputs it reads are
// finished, at most `concurrency` at once (each on its own thread when
// several). A job that throws fails alone, and so do the jobs reading its
// output; the others go on.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tsdb/block/discover.h"
#include "tsdb/compact/planner.h"

namespace promblock::compact {

class JobRunner {
 public:
  JobRunner(const std::vector<Job>& jobs, int concurrency);

  // `run(i)` makes job i's block (on a worker thread when several run at
  // once; it may read output() of the jobs job i reads); `finished(i)`
  // is called on the calling thread once job i is done or failed.
  void run(const std::function<FoundBlock(size_t)>& run,
           const std::function<void(size_t)>& finished);

  const std::optional<FoundBlock>& output(size_t job) const { return outputs_[job]; }
  // Why a job failed; empty when it did not.
  const std::string& error(size_t job) const { return errors_[job]; }

 private:
  std::vector<size_t> next_wave(const std::vector<bool>& started) const;
  void run_one(size_t job, const std::function<FoundBlock(size_t)>& run);

  const std::vector<Job>& jobs_;
  size_t concurrency_;
  std::vector<std::optional<FoundBlock>> outputs_;
  std::vector<std::string> errors_;
};

}  // namespace promblock::compact
