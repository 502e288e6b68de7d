// Group locks and shard arithmetic of distributed compaction.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/compact/group_lock.h"
#include "tsdb/compact/sharding.h"
#include "tsdb/model/labels.h"

namespace promblock::compact {
namespace {

using namespace std::chrono_literals;

class GroupLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("promblock-lock-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string lock_file(uint64_t hash) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx.lock", (unsigned long long)hash);
    return (dir_ / kLockDirName / buf).string();
  }
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  int64_t now_ms() const { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }
  // A set whose heartbeats and judgements go by the test's clock.
  std::unique_ptr<GroupLockSet> lock_set(std::chrono::milliseconds expiry = 60s) {
    return std::make_unique<GroupLockSet>(dir_.string(), expiry, [this] { return now_.load(); });
  }

  std::filesystem::path dir_;
  // The heartbeat thread reads it too (it beats only every expiry / 10,
  // far beyond a test's run time, but may still read it).
  std::atomic<int64_t> now_{1'700'000'000'000};
};

TEST_F(GroupLockTest, OneHolderAtATimeAndReleasedOnDestruction) {
  GroupLockSet a(dir_.string(), 60s), b(dir_.string(), 60s);
  LockHolder holder;
  auto lock = a.try_acquire(7, "{g=\"1\"}", holder);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(b.try_acquire(7, "{g=\"1\"}", holder), nullptr);
  EXPECT_EQ(holder.pid, ::getpid());
  EXPECT_NE(b.try_acquire(8, "{g=\"2\"}", holder), nullptr) << "other groups are free";
  lock.reset();
  EXPECT_FALSE(std::filesystem::exists(lock_file(7)));
  EXPECT_NE(b.try_acquire(7, "{g=\"1\"}", holder), nullptr);
}

TEST_F(GroupLockTest, HeartbeatKeepsALockAlivePastItsExpiry) {
  auto a = lock_set(), b = lock_set();
  LockHolder holder;
  auto lock = a->try_acquire(1, "g", holder);
  ASSERT_NE(lock, nullptr);
  advance(2min);  // two expiries
  a->heartbeat_all();
  EXPECT_EQ(b->try_acquire(1, "g", holder), nullptr);
  EXPECT_EQ(holder.heartbeat_ms, now_ms());
  EXPECT_FALSE(lock->lost());
}

TEST_F(GroupLockTest, LockWithoutHeartbeatIsTakenOverAndItsHolderStops) {
  auto a = lock_set(), b = lock_set();
  LockHolder holder;
  auto lock = a->try_acquire(2, "g", holder);
  ASSERT_NE(lock, nullptr);
  lock->add_writing("W.tmp-for-creation");
  advance(59s);
  EXPECT_EQ(b->try_acquire(2, "g", holder), nullptr) << "not expired yet";
  advance(2s);
  auto taken = b->try_acquire(2, "g", holder);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->inherited_writing(), std::vector<std::string>{"W.tmp-for-creation"});
  a->heartbeat_all();
  EXPECT_TRUE(lock->lost());
  EXPECT_THROW(lock->check(), Error);
  EXPECT_NO_THROW(taken->check());
}

TEST_F(GroupLockTest, ExpiredLockOfAnotherHostIsTakenOverWithItsTmpDirs) {
  auto set = lock_set();
  write(lock_file(3), R"({"group":"g","owner":"far:1:x","host":"far","pid":1,"heartbeat_ms":)" +
                          std::to_string(now_ms() - 5000) +
                          R"(,"expiry_ms":1000,"writing":["A.tmp-for-creation"]})");
  LockHolder holder;
  auto lock = set->try_acquire(3, "g", holder);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(lock->inherited_writing(), std::vector<std::string>{"A.tmp-for-creation"});
  EXPECT_TRUE(set->live_writing().empty());
}

TEST_F(GroupLockTest, FreshLockOfAnotherHostIsRespected) {
  auto set = lock_set();
  write(lock_file(3), R"({"group":"g","owner":"far:1:x","host":"far","pid":1,"heartbeat_ms":)" +
                          std::to_string(now_ms()) +
                          R"(,"expiry_ms":60000,"writing":["B.tmp-for-creation"]})");
  LockHolder holder;
  EXPECT_EQ(set->try_acquire(3, "g", holder), nullptr);
  EXPECT_EQ(holder.describe(), "host far pid 1");
  EXPECT_EQ(set->live_writing(), std::set<std::string>{"B.tmp-for-creation"});
}

TEST_F(GroupLockTest, DeadHolderOnThisHostNeedsNoWaiting) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ::waitpid(child, &status, 0);  // its pid is now free
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  auto set = lock_set();
  write(lock_file(4), std::string(R"({"group":"g","owner":"h:1:x","host":")") + host +
                          R"(","pid":)" + std::to_string(child) + R"(,"heartbeat_ms":)" +
                          std::to_string(now_ms()) + R"(,"expiry_ms":600000,"writing":[]})");
  LockHolder holder;
  EXPECT_NE(set->try_acquire(4, "g", holder), nullptr);
}

TEST_F(GroupLockTest, LosingTheLockIsNoticedBeforePublishing) {
  auto set = lock_set();
  LockHolder holder;
  auto lock = set->try_acquire(5, "g", holder);
  ASSERT_NE(lock, nullptr);
  lock->add_writing("X.tmp-for-creation");
  EXPECT_EQ(set->live_writing(), std::set<std::string>{"X.tmp-for-creation"});
  // Someone judged it dead and took it.
  write(lock_file(5), R"({"group":"g","owner":"other:2:y","host":"other","pid":2,"heartbeat_ms":)" +
                          std::to_string(now_ms()) + R"(,"expiry_ms":60000,"writing":[]})");
  EXPECT_NO_THROW(lock->check()) << "not noticed before the next heartbeat";
  set->heartbeat_all();
  EXPECT_TRUE(lock->lost());
  EXPECT_THROW(lock->check(), Error);
  lock.reset();
  EXPECT_TRUE(std::filesystem::exists(lock_file(5))) << "the new holder's lock stays";
}

TEST_F(GroupLockTest, DeadProcessesScratchFilesAndStaleLocksAreRemoved) {
  auto set = lock_set();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string scratch = lock_file(6) + "." + host + ".999999999.abcd.tmp";
  write(scratch, "{");
  write(lock_file(9), R"({"group":"g","owner":"far:1:x","host":"far","pid":1,"heartbeat_ms":1,)"
                      R"("expiry_ms":1,"writing":[]})");
  set->remove_dead_locks();
  EXPECT_FALSE(std::filesystem::exists(scratch));
  EXPECT_FALSE(std::filesystem::exists(lock_file(9)));
}

// Each process removes the lock directory when it leaves and holds no lock
// (CI once saw a shard of a `parallel` run fail to create its scratch file
// because another shard had just removed the directory). Here one thread
// keeps creating and removing the directory while another acquires.
TEST_F(GroupLockTest, AcquiringSurvivesOthersRemovingTheEmptyLockDirectory) {
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done) GroupLockSet passing(dir_.string(), 60s);
  });
  auto set = lock_set();
  std::string failure;
  for (int i = 0; i < 1000 && failure.empty(); ++i) {
    LockHolder holder;
    try {
      auto lock = set->try_acquire(uint64_t(i % 3), "{g=\"1\"}", holder);
      if (!lock) failure = "held by " + holder.describe();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  done = true;
  churn.join();
  EXPECT_EQ(failure, "");
}

TEST(ShardingTest, ShardArgumentsAndLabelValues) {
  EXPECT_EQ(parse_shard_spec("0/1"), (ShardOf{0, 1}));
  EXPECT_EQ(parse_shard_spec("3/4"), (ShardOf{3, 4}));
  for (const char* bad : {"4/4", "1", "/2", "1/", "a/2", "-1/2", "0/0", "1/2/3", " 1/2"})
    EXPECT_FALSE(parse_shard_spec(bad)) << bad;
  EXPECT_EQ(shard_label_value({0, 4}), "1_of_4");
  EXPECT_EQ(parse_shard_label_value("4_of_4"), (ShardOf{3, 4}));
  EXPECT_FALSE(parse_shard_label_value("0_of_4"));
  EXPECT_FALSE(parse_shard_label_value("5_of_4"));
  EXPECT_FALSE(parse_shard_label_value("1of4"));
}

TEST(ShardingTest, HashIsPrometheusLabelsHash) {
  // xxHash64 reference values, and labels.Hash()'s 0xff separators.
  EXPECT_EQ(labels_hash({}), 0xEF46DB3751D8E999ull);
  Labels ls{{"a", "b"}};
  EXPECT_EQ(labels_hash(ls), group_hash({{"a", "b"}}));
  EXPECT_NE(labels_hash(ls), labels_hash({{"a", "c"}}));
  EXPECT_NE(labels_hash({{"ab", ""}}), labels_hash({{"a", "b"}}));
}

}  // namespace
}  // namespace promblock::compact
