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

TEST(Planner, MergesOverlappingReplicasThenLevels) {
  auto jobs = plan_compaction(replica_pairs(6), kRanges);
  // 6 vertical jobs, then one 8h job over windows 0-3. Window 4 does not
  // fill a window and does not end before the newest remaining block
  // (itself) starts, so, as in Prometheus, it waits.
  ASSERT_EQ(jobs.size(), 7u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(jobs[i].reason, "vertical");
    EXPECT_EQ(jobs[i].inputs.size(), 2u);
  }
  EXPECT_EQ(jobs[6].reason, "compact 8h");
  ASSERT_EQ(jobs[6].inputs.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(jobs[6].inputs[k], (JobInput{true, k}));
  EXPECT_EQ(jobs[6].min_time, 0);
  EXPECT_EQ(jobs[6].max_time, 8 * kHour);
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

TEST(Planner, LevelsOnVerticalJobsKeepThemAndRenumber) {
  // Two replicas of 25 windows: 25 vertical jobs, then 8h levels and a 2d
  // one that takes the 24 vertical outputs directly.
  auto jobs = plan_compaction(replica_pairs(25), kRanges);
  ASSERT_EQ(jobs.size(), 26u);
  for (size_t i = 0; i < 25; ++i) EXPECT_EQ(jobs[i].reason, "vertical");
  EXPECT_EQ(jobs[25].reason, "compact 2d");
  ASSERT_EQ(jobs[25].inputs.size(), 24u);
  for (size_t k = 0; k < 24; ++k) EXPECT_EQ(jobs[25].inputs[k], (JobInput{true, k}));
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
  for (size_t k = 0; k < 7; ++k) EXPECT_EQ(jobs[7].inputs[k], (JobInput{true, k}));
}

TEST(Planner, ChainLevelsTakeTheVerticalJobsInputs) {
  // With chain dedup, the 8h level merges the replicas' 2h blocks itself:
  // windows 4 and 5 are not in it and keep their vertical jobs.
  auto blocks = replica_pairs(6);
  auto jobs = plan_compaction(blocks, kRanges, true);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].reason, "vertical");
  EXPECT_EQ(blocks[jobs[0].inputs.at(0).index].min_time, 8 * kHour);
  EXPECT_EQ(jobs[1].reason, "vertical");
  EXPECT_EQ(blocks[jobs[1].inputs.at(0).index].min_time, 10 * kHour);
  EXPECT_EQ(jobs[2].reason, "compact 8h");
  ASSERT_EQ(jobs[2].inputs.size(), 8u);
  for (size_t k = 0; k < 8; ++k) {
    EXPECT_FALSE(jobs[2].inputs[k].is_job);
    EXPECT_EQ(blocks[jobs[2].inputs[k].index].min_time, int64_t(k / 2) * 2 * kHour);
  }
  // A day of two replicas, then one block of the next day: one pass of 24.
  jobs = plan_compaction(replica_pairs(13), {2 * kHour, 24 * kHour}, true);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].reason, "vertical");
  EXPECT_EQ(jobs[1].reason, "compact 1d");
  EXPECT_EQ(jobs[1].inputs.size(), 24u);
}

TEST(Planner, ChainLevelsOverTwoWeeksTakeAtMost48Inputs) {
  auto blocks = replica_pairs(169);
  auto jobs = plan_compaction(blocks, {2 * kHour, 8 * kHour, 48 * kHour, 336 * kHour}, true);
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
  for (size_t k = 0; k < 7; ++k) EXPECT_EQ(jobs[8].inputs[k], (JobInput{true, k + 1}));
}

}  // namespace
}  // namespace promblock::compact
