#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "tsdb/compact/planner.h"

namespace promblock::compact {
namespace {

using testing::numbered;

constexpr int64_t kHour = 3600 * 1000;
const std::vector<int64_t> kRanges{2 * kHour, 8 * kHour, 48 * kHour};

PlanBlock block(const std::string& id, int64_t min_h, int64_t max_h, bool in_out,
                const std::string& group = "{}") {
  return {id, min_h * kHour, max_h * kHour, in_out, group};
}

// Two replicas' source blocks of `windows` consecutive 2h windows.
std::vector<PlanBlock> replica_pairs(int windows) {
  std::vector<PlanBlock> blocks;
  for (int w = 0; w < windows; ++w) {
    blocks.push_back(block(numbered("a", w), 2 * w, 2 * w + 2, false));
    blocks.push_back(block(numbered("b", w), 2 * w, 2 * w + 2, false));
  }
  return blocks;
}

// A leveled job that took the vertical jobs of replica_pairs' first
// `windows` windows: their source blocks, a cluster per window, in order.
void expect_pairs_as_clusters(const std::vector<PlanBlock>& blocks, const Job& job,
                              size_t windows) {
  ASSERT_EQ(job.inputs.size(), 2 * windows);
  for (size_t k = 0; k < job.inputs.size(); ++k) {
    EXPECT_FALSE(job.inputs[k].is_job);
    EXPECT_EQ(blocks[job.inputs[k].index].min_time, int64_t(k / 2) * 2 * kHour);
    EXPECT_EQ(job.inputs[k].cluster, k / 2) << k;
  }
}

TEST(Planner, MergesOverlappingReplicasThenLevels) {
  // Six windows of two replicas. The 8h level over windows 0-3 merges the
  // replicas' 2h blocks itself, each window's pair a cluster of its own;
  // windows 4 and 5 are not in it and keep their vertical jobs. (Window 4
  // does not fill a window and does not end before the newest remaining
  // block, itself, starts, so, as in Prometheus, it waits.)
  auto blocks = replica_pairs(6);
  auto jobs = plan_compaction(blocks, kRanges);
  ASSERT_EQ(jobs.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(jobs[i].reason, "vertical");
    ASSERT_EQ(jobs[i].inputs.size(), 2u);
    EXPECT_EQ(blocks[jobs[i].inputs[0].index].min_time, int64_t(8 + 2 * i) * kHour);
    for (const auto& in : jobs[i].inputs) EXPECT_EQ(in.cluster, 0u);
  }
  EXPECT_EQ(jobs[2].reason, "compact 8h");
  EXPECT_EQ(jobs[2].min_time, 0);
  EXPECT_EQ(jobs[2].max_time, 8 * kHour);
  expect_pairs_as_clusters(blocks, jobs[2], 4);
}

TEST(Planner, LoneSourceBlockIsCopiedAndOutputBlocksAloneAreLeftAlone) {
  auto jobs = plan_compaction({block("s", 0, 2, false), block("o", 4, 6, true)}, kRanges);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].reason, "copy");
  EXPECT_TRUE(plan_compaction({block("o1", 0, 2, true), block("o2", 2, 4, true)}, kRanges).empty());
}

TEST(Planner, GroupsNeverMix) {
  auto jobs = plan_compaction(
      {block("x", 0, 2, false, "{c=\"x\"}"), block("y", 0, 2, false, "{c=\"y\"}")}, kRanges);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].inputs.size(), 1u);
  EXPECT_EQ(jobs[1].inputs.size(), 1u);
}

TEST(Planner, BlockAlreadyCoveringARangeStays) {
  // Alone in its window, a block is never recompacted.
  auto jobs = plan_compaction(
      {block("big", 0, 8, true), block("n1", 48, 50, true), block("n2", 50, 52, true)}, kRanges);
  EXPECT_TRUE(jobs.empty());
}

TEST(Planner, PartialWindowWaitsUntilANewerBlockStartsAfterIt) {
  // Windows 0-2 of an 8h range, then window 4: the partial 8h window
  // [0, 6h) ends before the newest remaining block (window 4) starts.
  auto jobs =
      plan_compaction({block("o0", 0, 2, true), block("o1", 2, 4, true), block("o2", 4, 6, true),
                       block("o4", 8, 10, true), block("o5", 10, 12, true)},
                      kRanges);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].reason, "compact 8h");
  EXPECT_EQ(jobs[0].inputs.size(), 3u);
  // Without o4, the newest remaining block is o2 itself: nothing yet.
  EXPECT_TRUE(plan_compaction({block("o0", 0, 2, true), block("o1", 2, 4, true),
                               block("o2", 4, 6, true), block("o5", 10, 12, true)},
                              kRanges)
                  .empty());
}

TEST(Planner, LevelsRepeatedlyInto2dInOnePass) {
  std::vector<PlanBlock> blocks;
  for (int w = 0; w < 25; ++w)  // 50h of 2h blocks already in --out
    blocks.push_back(block(numbered("o", w), 2 * w, 2 * w + 2, true));
  auto jobs = plan_compaction(blocks, kRanges);
  // Six 8h windows, then the 2d one over them: one job from the 24 blocks,
  // not six 8h blocks written and read again.
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].reason, "compact 2d");
  EXPECT_EQ(jobs[0].min_time, 0);
  EXPECT_EQ(jobs[0].max_time, 48 * kHour);
  ASSERT_EQ(jobs[0].inputs.size(), 24u);
  for (size_t k = 0; k < 24; ++k) {
    EXPECT_FALSE(jobs[0].inputs[k].is_job);
    EXPECT_EQ(blocks[jobs[0].inputs[k].index].min_time, int64_t(k) * 2 * kHour);
  }
}

TEST(Planner, LevelsTakeVerticalJobsAsClusters) {
  // Two replicas of 25 windows: the 2d level takes the 48 blocks of windows
  // 0-23 (the 8h levels and the vertical jobs under them), a cluster per
  // window; the newest window keeps its vertical job.
  auto blocks = replica_pairs(25);
  auto jobs = plan_compaction(blocks, kRanges);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].reason, "vertical");
  EXPECT_EQ(blocks[jobs[0].inputs.at(0).index].min_time, 48 * kHour);
  EXPECT_EQ(jobs[1].reason, "compact 2d");
  expect_pairs_as_clusters(blocks, jobs[1], 24);
}

TEST(Planner, LeveledInputsAreClustersOfTheirOwn) {
  // Blocks already in --out and a replica pair after them: the 8h job
  // takes the three blocks and the pair's vertical job, the pair one
  // cluster.
  std::vector<PlanBlock> blocks{block("o0", 0, 2, true),  block("o1", 2, 4, true),
                                block("o2", 4, 6, true),  block("a3", 6, 8, false),
                                block("b3", 6, 8, false), block("o4", 8, 10, true)};
  auto jobs = plan_compaction(blocks, kRanges);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].reason, "compact 8h");
  ASSERT_EQ(jobs[0].inputs.size(), 5u);
  const std::vector<uint32_t> clusters{0, 1, 2, 3, 3};
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_FALSE(jobs[0].inputs[k].is_job);
    EXPECT_EQ(jobs[0].inputs[k].cluster, clusters[k]) << k;
  }
  EXPECT_EQ(blocks[jobs[0].inputs[4].index].min_time, 6 * kHour);
}

TEST(Planner, OnePassTakesAtMost48Inputs) {
  std::vector<PlanBlock> blocks;
  for (int w = 0; w < 169; ++w)  // two weeks of 2h blocks, and one more
    blocks.push_back(block(numbered("o", w), 2 * w, 2 * w + 2, true));
  auto jobs = plan_compaction(blocks, {2 * kHour, 8 * kHour, 48 * kHour, 336 * kHour});
  // 2d blocks straight from 24 2h blocks each; the 14d one from those 7,
  // not from 168 blocks at once.
  ASSERT_EQ(jobs.size(), 8u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(jobs[i].reason, "compact 2d");
    EXPECT_EQ(jobs[i].inputs.size(), 24u);
  }
  EXPECT_EQ(jobs[7].reason, "compact 2w");
  ASSERT_EQ(jobs[7].inputs.size(), 7u);
  for (size_t k = 0; k < 7; ++k) EXPECT_EQ(jobs[7].inputs[k], (JobInput{true, k, uint32_t(k)}));
}

TEST(Planner, ADayOfReplicasIsOnePass) {
  // A day of two replicas, then one block of the next day: one pass of 24.
  auto jobs = plan_compaction(replica_pairs(13), {2 * kHour, 24 * kHour});
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].reason, "vertical");
  EXPECT_EQ(jobs[1].reason, "compact 1d");
  ASSERT_EQ(jobs[1].inputs.size(), 24u);
  EXPECT_EQ(jobs[1].inputs.back().cluster, 11u);
}

TEST(Planner, LevelsOverTwoWeeksOfReplicasTakeAtMost48Inputs) {
  auto blocks = replica_pairs(169);
  auto jobs = plan_compaction(blocks, {2 * kHour, 8 * kHour, 48 * kHour, 336 * kHour});
  // The newest window's vertical job; 7 2d jobs of 48 source blocks each
  // (the 8h levels and vertical jobs under them taken in); 14d on the 7, as
  // all 336 blocks would be too many.
  ASSERT_EQ(jobs.size(), 9u);
  EXPECT_EQ(jobs[0].reason, "vertical");
  for (size_t i = 1; i <= 7; ++i) {
    EXPECT_EQ(jobs[i].reason, "compact 2d");
    ASSERT_EQ(jobs[i].inputs.size(), 48u);
    for (const auto& in : jobs[i].inputs) EXPECT_FALSE(in.is_job);
    EXPECT_EQ(blocks[jobs[i].inputs.front().index].min_time, int64_t(i - 1) * 48 * kHour);
  }
  EXPECT_EQ(jobs[8].reason, "compact 2w");
  ASSERT_EQ(jobs[8].inputs.size(), 7u);
  for (size_t k = 0; k < 7; ++k) EXPECT_EQ(jobs[8].inputs[k], (JobInput{true, k + 1, uint32_t(k)}));
}

}  // namespace
}  // namespace promblock::compact
