// A whole compaction run over small blocks, with a set clock: what it
// reports through its callbacks (and that it prints nothing itself).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/compact_test_blocks.h"
#include "tsdb/block/discover.h"
#include "tsdb/compact/compactor.h"
#include "tsdb/compact/group_lock.h"
#include "tsdb/compact/sharding.h"

namespace promblock::compact {
namespace {

using testing::kHour;
using testing::kNow;
using testing::TempDir;
using testing::write_test_block;

class CompactRunTest : public ::testing::Test {
 protected:
  CompactRunTest() : opts_(testing::two_source_options(tmp_)) {
    opts_.ranges = {2 * kHour};
    opts_.clock = [] { return kNow; };
    opts_.notice = [this](const std::string& msg) { notices_.push_back(msg); };
    a1_ = write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}});
    b1_ = write_test_block(opts_.sources[1], {{{"cluster", "x"}, {"replica", "b"}}});
  }

  // Runs the compaction; returns what the library wrote to stderr.
  std::string run() {
    ::testing::internal::CaptureStderr();
    summary_ = run_compaction(opts_, [this](const JobReport& r) { jobs_.push_back(r); });
    return ::testing::internal::GetCapturedStderr();
  }

  TempDir tmp_;
  CompactOptions opts_;
  std::string a1_, b1_;
  std::vector<std::string> notices_;
  std::vector<JobReport> jobs_;
  CompactSummary summary_;
};

TEST_F(CompactRunTest, ReplicasBecomeOneBlock) {
  EXPECT_EQ(run(), "");
  ASSERT_EQ(jobs_.size(), 1u);
  EXPECT_EQ(jobs_[0].reason, "vertical");
  EXPECT_EQ(jobs_[0].group, (std::map<std::string, std::string>{{"cluster", "x"}}));
  EXPECT_TRUE(jobs_[0].error.empty()) << jobs_[0].error;
  EXPECT_EQ(summary_.jobs_done, 1u);
  auto out = discover_blocks(opts_.out_dir);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].meta.ulid, jobs_[0].output);
  auto sources = out[0].meta.sources;
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(sources, (std::vector<std::string>{std::min(a1_, b1_), std::max(a1_, b1_)}));
  EXPECT_TRUE(notices_.empty());
}

TEST_F(CompactRunTest, AFailedJobIsReportedNotPrinted) {
  std::filesystem::remove_all(opts_.sources[1] + "/" + b1_ + "/chunks");
  EXPECT_EQ(run(), "");
  ASSERT_EQ(jobs_.size(), 1u);
  EXPECT_FALSE(jobs_[0].error.empty());
  EXPECT_TRUE(jobs_[0].output.empty());
  EXPECT_EQ(summary_.jobs_failed, 1u);
  EXPECT_TRUE(discover_blocks(opts_.out_dir).empty()) << "nothing published";
}

TEST_F(CompactRunTest, AGroupHeldByALiveProcessIsLeftWithANotice) {
  std::map<std::string, std::string> group{{"cluster", "x"}};
  char name[32];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".lock", group_hash(group));
  std::string dir = opts_.out_dir + "/" + kLockDirName;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name) << R"({"group":"{cluster=\"x\"}","owner":"far:7:t","host":"far",)"
                                  << R"("pid":7,"heartbeat_ms":)" << kNow
                                  << R"(,"expiry_ms":60000,"writing":[]})";
  EXPECT_EQ(run(), "");
  EXPECT_EQ(summary_.groups_locked, 1u);
  EXPECT_EQ(summary_.jobs_planned, 0u);
  EXPECT_TRUE(jobs_.empty());
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0], "group {cluster=\"x\"} is locked by host far pid 7; left for later");
}

TEST_F(CompactRunTest, DryRunPlansWithoutWriting) {
  opts_.dry_run = true;
  EXPECT_EQ(run(), "");
  ASSERT_EQ(jobs_.size(), 1u);
  EXPECT_EQ(jobs_[0].inputs.size(), 2u);
  EXPECT_TRUE(jobs_[0].output.empty());
  EXPECT_FALSE(std::filesystem::exists(opts_.out_dir));
}

}  // namespace
}  // namespace promblock::compact
