// A whole compaction run over small blocks, with a set clock: what it
// reports through its callbacks (and that it prints nothing itself).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/compact_test_blocks.h"
#include "tsdb/base/error.h"
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

TEST_F(CompactRunTest, AJobsInputsOpenedAheadFailItAlone) {
  // The second window's inputs are opened while the first job commits:
  // what opening one of them throws is the second job's error, as if it
  // had opened them itself, and the first job is done.
  write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}, 2 * kHour, 4 * kHour});
  auto b2 = write_test_block(opts_.sources[1],
                             {{{"cluster", "x"}, {"replica", "b"}}, 2 * kHour, 4 * kHour});
  std::filesystem::remove_all(opts_.sources[1] + "/" + b2 + "/chunks");
  EXPECT_EQ(run(), "");
  ASSERT_EQ(jobs_.size(), 2u);
  std::sort(jobs_.begin(), jobs_.end(),
            [](const JobReport& a, const JobReport& b) { return a.min_time < b.min_time; });
  EXPECT_TRUE(jobs_[0].error.empty()) << jobs_[0].error;
  EXPECT_FALSE(jobs_[0].output.empty());
  EXPECT_NE(jobs_[1].error.find(b2), std::string::npos) << jobs_[1].error;
  EXPECT_TRUE(jobs_[1].output.empty());
  EXPECT_EQ(summary_.jobs_done, 1u);
  EXPECT_EQ(summary_.jobs_failed, 1u);
  // Both windows readable: both jobs done.
  std::filesystem::remove_all(opts_.out_dir);
  std::filesystem::remove_all(opts_.sources[1] + "/" + b2);
  write_test_block(opts_.sources[1], {{{"cluster", "x"}, {"replica", "b"}}, 2 * kHour, 4 * kHour});
  jobs_.clear();
  EXPECT_EQ(run(), "");
  ASSERT_EQ(jobs_.size(), 2u);
  for (const auto& j : jobs_) EXPECT_TRUE(j.error.empty()) << j.error;
  EXPECT_EQ(discover_blocks(opts_.out_dir).size(), 2u);
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

// Locks held where the output directory stands in for shared storage (a
// bucket's mirror): a refused group is left, a held one is checked before
// its block is published.
struct FakeRemoteLock : RemoteGroupLock {
  bool lost = false;
  mutable int checks = 0;
  void check() const override {
    ++checks;
    if (lost) throw Error("bucket/.promblock-locks/x.lock: lock lost");
  }
};

TEST_F(CompactRunTest, AGroupLockedRemotelyIsLeftWithANotice) {
  std::vector<uint64_t> asked;
  opts_.lock_remote_group = [&](uint64_t hash, const std::string&, std::string& held_by) {
    asked.push_back(hash);
    held_by = "far pid 7, refreshed 3s ago";
    return std::shared_ptr<RemoteGroupLock>();
  };
  int refreshed = 0;
  opts_.after_locking = [&] { ++refreshed; };
  EXPECT_EQ(run(), "");
  EXPECT_EQ(asked, (std::vector<uint64_t>{group_hash({{"cluster", "x"}})}));
  EXPECT_EQ(refreshed, 1);
  EXPECT_EQ(summary_.groups_locked, 1u);
  EXPECT_EQ(summary_.jobs_planned, 0u);
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0],
            "group {cluster=\"x\"} is locked by far pid 7, refreshed 3s ago; left for later");
}

TEST_F(CompactRunTest, AJobWhoseRemoteLockWasLostPublishesNothing) {
  auto lock = std::make_shared<FakeRemoteLock>();
  opts_.lock_remote_group = [&](uint64_t, const std::string&, std::string&) { return lock; };
  std::vector<std::string> published;
  opts_.publish = [&](const std::string& dir) { published.push_back(dir); };
  lock->lost = true;
  EXPECT_EQ(run(), "");
  EXPECT_EQ(lock->checks, 1);
  ASSERT_EQ(jobs_.size(), 1u);
  EXPECT_NE(jobs_[0].error.find("lock lost"), std::string::npos) << jobs_[0].error;
  EXPECT_TRUE(published.empty());
  EXPECT_EQ(summary_.blocks_marked, 0u);

  lock->lost = false;  // the next run holds it: publishes
  jobs_.clear();
  EXPECT_EQ(run(), "");
  EXPECT_EQ(published.size(), 1u);
  EXPECT_EQ(summary_.jobs_done, 1u);
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
