// Running planned jobs: order, concurrency and failures.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>

#include "tsdb/compact/job_runner.h"

namespace promblock::compact {
namespace {

// Job 1 fails, job 2 reads it; jobs 3 and 4 (reading 3) are fine.
std::vector<Job> jobs_with_a_failure() {
  std::vector<Job> jobs(4);
  jobs[0].inputs = {{false, 0}};
  jobs[1].inputs = {{true, 0}};
  jobs[2].inputs = {{false, 1}};
  jobs[3].inputs = {{true, 2}, {false, 2}};
  return jobs;
}

struct Outcome {
  std::vector<size_t> finished;
  std::set<size_t> ran;
};

Outcome run_jobs(const std::vector<Job>& jobs, JobRunner& runner) {
  Outcome o;
  std::mutex mu;
  runner.run(
      [&](size_t i) {
        {
          std::lock_guard g(mu);
          o.ran.insert(i);
        }
        if (i == 0) throw std::runtime_error("disk full");
        FoundBlock b;
        b.meta.ulid = "out" + std::to_string(i);
        // A job reads its input jobs' outputs.
        for (const auto& in : jobs[i].inputs)
          if (in.is_job) b.meta.sources.push_back(runner.output(in.index)->meta.ulid);
        return b;
      },
      [&](size_t i) { o.finished.push_back(i); });
  return o;
}

TEST(JobRunnerTest, AFailedJobFailsOnlyItselfAndTheJobsReadingIt) {
  for (int concurrency : {1, 2, 4}) {
    auto jobs = jobs_with_a_failure();
    JobRunner runner(jobs, concurrency);
    Outcome o = run_jobs(jobs, runner);
    EXPECT_EQ(o.ran, (std::set<size_t>{0, 2, 3})) << "job 2's input failed: it never runs";
    EXPECT_EQ(runner.error(0), "disk full");
    EXPECT_EQ(runner.error(1), "input job 1 failed");
    EXPECT_FALSE(runner.output(0));
    EXPECT_FALSE(runner.output(1));
    ASSERT_TRUE(runner.output(3));
    EXPECT_EQ(runner.output(3)->meta.sources, std::vector<std::string>{"out2"});
    EXPECT_TRUE(runner.error(3).empty());
    EXPECT_EQ(o.finished.size(), 4u) << "every job is reported once";
    EXPECT_EQ(std::set<size_t>(o.finished.begin(), o.finished.end()).size(), 4u);
  }
}

TEST(JobRunnerTest, JobsStartOnlyAfterTheJobsTheyRead) {
  auto jobs = jobs_with_a_failure();
  JobRunner one(jobs, 1);
  EXPECT_EQ(run_jobs(jobs, one).finished, (std::vector<size_t>{0, 1, 2, 3}));
  // Two at once: the first wave is every ready job up to two.
  JobRunner two(jobs, 2);
  EXPECT_EQ(run_jobs(jobs, two).finished, (std::vector<size_t>{0, 2, 1, 3}));
}

TEST(JobRunnerTest, NoJobsNothingRuns) {
  std::vector<Job> jobs;
  JobRunner runner(jobs, 3);
  Outcome o = run_jobs(jobs, runner);
  EXPECT_TRUE(o.finished.empty());
  EXPECT_TRUE(o.ran.empty());
}

}  // namespace
}  // namespace promblock::compact
