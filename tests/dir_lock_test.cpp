// The output directory lock: one exclusive holder, or any number of shared
// ones; a refusal names the holder; a pid a dead holder left is no lock.
#include "tsdb/base/dir_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "tests/test_util.h"

namespace promblock {
namespace {

using testing::TempDir;

std::string lock_text(const std::string& dir) {
  std::ifstream in(dir + "/" + DirLock::kFileName);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The message a refused DirLock throws; nullopt when it was granted.
std::optional<std::string> refusal(const std::string& dir, DirLock::Mode mode) {
  try {
    DirLock lock(dir, mode);
  } catch (const LockedError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

TEST(DirLockTest, CreatesTheDirectoryAndRecordsItsHolder) {
  TempDir tmp;
  std::string dir = tmp.file("out/nested");
  {
    DirLock lock(dir);
    EXPECT_TRUE(std::filesystem::is_directory(dir));
    EXPECT_EQ(lock_text(dir), std::to_string(::getpid()) + "\n");
  }
  EXPECT_EQ(lock_text(dir), "") << "released: no pid left to name a holder that is gone";
}

TEST(DirLockTest, RefusesWhileHeldNamingTheHolder) {
  TempDir tmp;
  {
    DirLock held(tmp.path());
    auto msg = refusal(tmp.path(), DirLock::Mode::kExclusive);
    ASSERT_TRUE(msg);
    EXPECT_NE(msg->find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos) << *msg;
    EXPECT_NE(msg->find(tmp.file(DirLock::kFileName)), std::string::npos) << *msg;
    EXPECT_TRUE(refusal(tmp.path(), DirLock::Mode::kShared)) << "shared waits for exclusive";
  }
  EXPECT_FALSE(refusal(tmp.path(), DirLock::Mode::kExclusive)) << "free once released";
}

TEST(DirLockTest, SharedHoldersExcludeOnlyExclusiveOnes) {
  TempDir tmp;
  DirLock a(tmp.path(), DirLock::Mode::kShared);
  EXPECT_FALSE(refusal(tmp.path(), DirLock::Mode::kShared));
  auto msg = refusal(tmp.path(), DirLock::Mode::kExclusive);
  ASSERT_TRUE(msg);
  EXPECT_NE(msg->find("locked by running sharded compactions"), std::string::npos) << *msg;
}

TEST(DirLockTest, PidLeftByADeadHolderIsTakenOver) {
  TempDir tmp;
  // A killed holder's file: its pid stays, its flock went with it.
  std::ofstream(tmp.file(DirLock::kFileName)) << "1234567890\n";
  DirLock lock(tmp.path());
  EXPECT_EQ(lock_text(tmp.path()), std::to_string(::getpid()) + "\n")
      << "no trace of the longer old pid";
}

TEST(DirLockTest, SharedHolderClearsAPidADeadHolderLeft) {
  TempDir tmp;
  std::ofstream(tmp.file(DirLock::kFileName)) << "1234567890\n";
  DirLock lock(tmp.path(), DirLock::Mode::kShared);
  EXPECT_EQ(lock_text(tmp.path()), "");
}

}  // namespace
}  // namespace promblock
