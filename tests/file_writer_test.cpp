#include "tsdb/base/file_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/base/error.h"

namespace promblock {
namespace {

using testing::read_bytes;
using testing::TempDir;

// Bytes that differ from offset to offset, so that a misplaced write shows.
std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 131 + seed + (i >> 12));
  return b;
}

TEST(FileWriter, LargeFileSyncedInTheBackgroundReadsBackWhole) {
  // 40 MiB in odd-sized writes: background syncs run while the writer goes
  // on, and a patch of an early byte range lands after several of them.
  TempDir dir;
  const std::string path = dir.path() + "/big";
  std::vector<uint8_t> want;
  {
    FileWriter w(path, size_t(1) << 20);
    for (int i = 0; want.size() < (size_t(40) << 20); ++i) {
      auto piece = pattern(size_t(300000 + 7 * i), uint8_t(i));
      w.write(piece);
      want.insert(want.end(), piece.begin(), piece.end());
      EXPECT_EQ(w.pos(), want.size());
    }
    auto patch = pattern(4096, 99);
    w.write_at(12345, patch);
    std::copy(patch.begin(), patch.end(), want.begin() + 12345);
    w.close();
  }
  EXPECT_EQ(read_bytes(path), want);
}

TEST(FileWriter, DestroyedUnclosedWhileSyncingNeitherHangsNorCrashes) {
  TempDir dir;
  const std::string path = dir.path() + "/abandoned";
  {
    FileWriter w(path, size_t(1) << 20);
    auto piece = pattern(size_t(1) << 20, 7);
    for (int i = 0; i < 20; ++i) w.write(piece);  // past the background sync step
  }  // no close(): the destructor joins the sync thread and closes
  EXPECT_EQ(read_bytes(path).size(), size_t(20) << 20);
}

size_t page_size() { return size_t(::sysconf(_SC_PAGESIZE)); }

// Pages of `path` in the page cache.
size_t cached_pages(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  ::fstat(fd, &st);
  const size_t page = page_size();
  const size_t size = size_t(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return 0;
  std::vector<unsigned char> resident((size + page - 1) / page);
  ::mincore(map, size, resident.data());
  ::munmap(map, size);
  return size_t(
      std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }));
}

TEST(FileWriter, DropBehindLeavesNoPagesCachedOnceClosed) {
  TempDir dir;
  struct statfs fs {};
  ASSERT_EQ(::statfs(dir.path().c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
  // Past two background sync steps, with a patch of an early, dropped range.
  auto write = [&](const std::string& path, bool drop_behind) {
    std::vector<uint8_t> want;
    FileWriter w(path, size_t(1) << 20);
    if (drop_behind) w.set_drop_behind();
    for (int i = 0; want.size() < (size_t(20) << 20); ++i) {
      auto piece = pattern(size_t(500000 + 11 * i), uint8_t(i));
      w.write(piece);
      want.insert(want.end(), piece.begin(), piece.end());
    }
    auto patch = pattern(5000, 42);
    w.write_at(4000, patch);
    std::copy(patch.begin(), patch.end(), want.begin() + 4000);
    w.close();
    return want;
  };
  const std::string kept = dir.path() + "/kept", dropped = dir.path() + "/dropped";
  auto want_kept = write(kept, false);
  auto want_dropped = write(dropped, true);
  const size_t pages = (want_dropped.size() + page_size() - 1) / page_size();
  // The control: written the usual way, the file stays cached.
  EXPECT_GT(cached_pages(kept), pages / 2);
  EXPECT_EQ(cached_pages(dropped), 0u);
  EXPECT_EQ(read_bytes(kept), want_kept);
  EXPECT_EQ(read_bytes(dropped), want_dropped);
}

TEST(FileWriter, SmallFilePaddedAndClosed) {
  TempDir dir;
  const std::string path = dir.path() + "/small";
  FileWriter w(path);
  std::vector<uint8_t> three = {1, 2, 3};
  w.write(three);
  w.pad_to(16);
  EXPECT_EQ(w.pos(), 16u);
  w.close();
  std::vector<uint8_t> want(16, 0);
  std::iota(want.begin(), want.begin() + 3, uint8_t(1));
  EXPECT_EQ(read_bytes(path), want);
  EXPECT_THROW(w.write(three), Error);  // after close
}

TEST(FileWriter, FinishedWritingFlushesAndStillTakesWrites) {
  // finish_writing() gives up the buffer: what was buffered is in the file
  // before close(), and a later write goes straight through.
  TempDir dir;
  const std::string path = dir.path() + "/finished";
  FileWriter w(path, 4096);
  auto first = pattern(1000, 1);
  w.write(first);
  w.finish_writing();
  EXPECT_EQ(read_bytes(path), first);
  auto second = pattern(10, 2);
  w.write(second);
  EXPECT_EQ(w.pos(), 1010u);
  w.close();
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(read_bytes(path), first);
}

TEST(FileWriter, PatchesLandInTheBufferOrInTheFile) {
  // A section's length is patched once the section is written: while the
  // bytes are still buffered, in the buffer (nothing reaches the file); once
  // flushed, in the file; a patch over both parts, in the file too.
  TempDir dir;
  const std::string path = dir.path() + "/patched";
  FileWriter w(path, 4096);
  std::vector<uint8_t> want = pattern(1000, 1);
  w.write(want);
  auto patch = [&](uint64_t pos, size_t n, uint8_t seed) {
    auto p = pattern(n, seed);
    w.write_at(pos, p);
    std::copy(p.begin(), p.end(), want.begin() + std::ptrdiff_t(pos));
  };
  patch(10, 4, 2);
  patch(996, 4, 3);  // up to the buffer's end
  EXPECT_TRUE(read_bytes(path).empty()) << "a patch of buffered bytes flushed them";
  auto big = pattern(5000, 4);  // flushes the 1000, goes straight to the file
  w.write(big);
  want.insert(want.end(), big.begin(), big.end());
  auto tail = pattern(100, 5);
  w.write(tail);
  want.insert(want.end(), tail.begin(), tail.end());
  patch(6090, 10, 6);  // the buffer's last bytes
  patch(5990, 20, 7);  // across the file and the buffer
  patch(990, 20, 8);   // in the file
  w.close();
  EXPECT_EQ(read_bytes(path), want);
}

}  // namespace
}  // namespace promblock
