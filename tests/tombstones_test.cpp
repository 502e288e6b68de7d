#include "tsdb/tombstones/tombstones.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"

namespace promblock {
namespace {

using testing::read_bytes;
using testing::write_bytes;

namespace fs = std::filesystem;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

std::string fixtures() { return std::string(PROMBLOCK_TESTDATA) + "/../tests/fixtures"; }

class TombstonesFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("promblock_tombstones_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path() const { return (dir_ / "tombstones").string(); }

  std::string read_error() {
    try {
      read_tombstones(path());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

std::vector<Interval> added(std::vector<Interval> ivs, Interval iv) {
  add_interval(ivs, iv);
  return ivs;
}

TEST(TombstoneIntervals, AddMergesLikePrometheus) {
  using V = std::vector<Interval>;
  EXPECT_EQ(added({}, {1, 2}), (V{{1, 2}}));
  EXPECT_EQ(added({{1, 2}}, {3, 4}), (V{{1, 4}}));  // touching
  EXPECT_EQ(added({{3, 4}}, {1, 2}), (V{{1, 4}}));
  EXPECT_EQ(added({{1, 2}}, {4, 5}), (V{{1, 2}, {4, 5}}));
  EXPECT_EQ(added({{4, 5}}, {1, 2}), (V{{1, 2}, {4, 5}}));
  EXPECT_EQ(added({{1, 2}, {10, 12}}, {5, 6}), (V{{1, 2}, {5, 6}, {10, 12}}));
  EXPECT_EQ(added({{1, 2}, {5, 6}, {10, 12}, {20, 30}}, {4, 11}), (V{{1, 2}, {4, 12}, {20, 30}}));
  EXPECT_EQ(added({{1, 2}, {5, 6}, {10, 12}}, {0, 100}), (V{{0, 100}}));
  EXPECT_EQ(added({{1, 20}}, {5, 6}), (V{{1, 20}}));
  EXPECT_EQ(added({{5, 6}}, {kMin, kMax}), (V{{kMin, kMax}}));
  EXPECT_EQ(added({{5, 6}, {100, 200}}, {kMin, 7}), (V{{kMin, 7}, {100, 200}}));
  EXPECT_EQ(added({{5, 6}, {100, 200}}, {99, kMax}), (V{{5, 6}, {99, kMax}}));
  EXPECT_EQ(added({{kMin, 0}}, {kMin, kMin}), (V{{kMin, 0}}));
}

TEST(TombstoneIntervals, IsDeletedIsInclusive) {
  std::vector<Interval> ivs = {{10, 20}, {30, 30}, {40, kMax}};
  for (int64_t t : {10, 15, 20, 30, 40, 1000}) EXPECT_TRUE(is_deleted(ivs, t)) << t;
  for (int64_t t : {9, 21, 29, 31, 39}) EXPECT_FALSE(is_deleted(ivs, t)) << t;
  EXPECT_TRUE(is_deleted(ivs, kMax));
  EXPECT_FALSE(is_deleted(ivs, kMin));
  EXPECT_FALSE(is_deleted({}, 0));
}

TEST_F(TombstonesFile, MissingFileIsEmpty) { EXPECT_TRUE(read_tombstones(path()).empty()); }

TEST_F(TombstonesFile, EmptyMatchesPrometheus) {
  auto theirs = fixtures() + "/chunks_small/01M89C2K3112H8X7CVMFGA0K9E/tombstones";
  EXPECT_TRUE(read_tombstones(theirs).empty());
  write_tombstones(path(), {});
  EXPECT_EQ(read_bytes(path()), read_bytes(theirs));
}

TEST_F(TombstonesFile, ReadsPrometheusFile) {
  Tombstones want = {
      {20, {{1700000100000, 1700000300000}, {1700001000000, 1700002000000}}},
      {61, {{1700000000003, 1700000705003}}},
      {75, {{1700000000123, 1700000050500}}},
      {77, {{1700000000500, 1700000000500}}},
  };
  auto theirs = fixtures() + "/tombstones/prometheus_multi";
  EXPECT_EQ(read_tombstones(theirs), want);
  // Prometheus writes series in map order, we in ref order: same size and content.
  write_tombstones(path(), want);
  EXPECT_EQ(fs::file_size(path()), fs::file_size(theirs));
  EXPECT_EQ(read_tombstones(path()), want);
}

TEST_F(TombstonesFile, WritesPrometheusBytes) {
  auto theirs = fixtures() + "/tombstones/prometheus_single";
  Tombstones t = read_tombstones(theirs);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[20], (std::vector<Interval>{{1700000100000, 1700000300000},
                                          {1700001000000, 1700002000000}}));
  write_tombstones(path(), t);
  EXPECT_EQ(read_bytes(path()), read_bytes(theirs));
  EXPECT_FALSE(fs::exists(path() + ".tmp"));
}

TEST_F(TombstonesFile, RoundTripMergesOnRead) {
  Tombstones t;
  add_interval(t, 0, {kMin, kMax});
  add_interval(t, 1, {-5, -1});
  add_interval(t, 1, {0, 3});  // touches: merged
  add_interval(t, uint64_t(1) << 60, {7, 7});
  write_tombstones(path(), t);
  auto got = read_tombstones(path());
  EXPECT_EQ(got, t);
  EXPECT_EQ(got[1], (std::vector<Interval>{{-5, 3}}));

  // Two entries that touch, written separately, come back merged.
  enc::Encbuf b;
  b.put_be32(0x0130BA30);
  b.put_byte(1);
  for (auto [lo, hi] : {std::pair<int64_t, int64_t>{10, 20}, {21, 30}, {0, 5}}) {
    b.put_uvarint(3);
    b.put_varint(lo);
    b.put_varint(hi);
  }
  b.put_crc32c_of(5);
  write_bytes(path(), {b.bytes().begin(), b.bytes().end()});
  EXPECT_EQ(read_tombstones(path())[3], (std::vector<Interval>{{0, 5}, {10, 30}}));
}

TEST_F(TombstonesFile, Corruption) {
  Tombstones t = {{20, {{1, 2}, {10, 20}}}, {21, {{-3, 3}}}};
  write_tombstones(path(), t);
  const auto good = read_bytes(path());

  auto b = good;
  b[0] ^= 1;
  write_bytes(path(), b);
  EXPECT_NE(read_error().find("wrong magic"), std::string::npos) << read_error();

  b = good;
  b[4] = 2;
  write_bytes(path(), b);
  EXPECT_NE(read_error().find("unsupported tombstones version 2"), std::string::npos);

  for (size_t i = 5; i < good.size(); ++i) {
    b = good;
    b[i] ^= 0x10;
    write_bytes(path(), b);
    EXPECT_NE(read_error().find("checksum mismatch"), std::string::npos) << i;
  }
  for (size_t len = 0; len < good.size(); ++len) {
    write_bytes(path(), std::vector<uint8_t>(good.begin(), good.begin() + len));
    std::string err = read_error();
    EXPECT_NE(err, "") << len;
    EXPECT_EQ(err.rfind(path() + ": ", 0), 0u) << err;
  }

  // A valid checksum over a cut-off entry, and over min > max.
  for (auto entries : {std::vector<uint8_t>{0x05, 0x02}, std::vector<uint8_t>{0x05, 0x04, 0x02}}) {
    enc::Encbuf e;
    e.put_be32(0x0130BA30);
    e.put_byte(1);
    e.put_bytes(entries);
    e.put_crc32c_of(5);
    write_bytes(path(), {e.bytes().begin(), e.bytes().end()});
    EXPECT_NE(read_error(), "");
  }
}

// Read, not mapped: what stands in place of the file must still fail at
// once, naming it, and never wait for a writer.
TEST_F(TombstonesFile, NotARegularFileFailsWithoutWaiting) {
  ASSERT_EQ(::mkfifo(path().c_str(), 0644), 0);
  std::string err = read_error();
  EXPECT_EQ(err.rfind(path() + ": ", 0), 0u) << err;
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;

  fs::remove(path());
  fs::create_directory(path());
  err = read_error();
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

TEST_F(TombstonesFile, WriteErrorNamesTheFile) {
  auto bad = (dir_ / "no_such_dir" / "tombstones").string();
  try {
    write_tombstones(bad, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace promblock
