#include "tsdb/base/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/test_util.h"

namespace promblock {
namespace {

using testing::TempDir;

// Pages of [begin, end) of `bytes` mapped into this process: the present
// bit of /proc/self/pagemap (readable without privileges; the frame
// numbers are not needed).
size_t present_pages(std::span<const uint8_t> bytes, size_t begin, size_t end) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  auto base = reinterpret_cast<uintptr_t>(bytes.data());
  std::FILE* f = std::fopen("/proc/self/pagemap", "rb");
  if (!f) return SIZE_MAX;
  size_t present = 0;
  for (size_t off = begin / page * page; off < end; off += page) {
    uint64_t entry = 0;
    if (std::fseek(f, long((base + off) / page * 8), SEEK_SET) != 0 ||
        std::fread(&entry, sizeof entry, 1, f) != 1) {
      present = SIZE_MAX;
      break;
    }
    present += (entry >> 63) & 1;
  }
  std::fclose(f);
  return present;
}

TEST(MappedFileTest, ReleasingBehindAFrontierLeavesNoPageBehind) {
  TempDir dir;
  const std::string path = dir.file("data");
  const size_t size = 1 << 20;
  {
    std::ofstream out(path, std::ios::binary);
    for (size_t i = 0; i < size; ++i) out.put(char(i * 7));
  }
  MappedFile file(path);
  auto bytes = file.bytes();
  unsigned sum = 0;
  for (size_t i = 0; i < size; ++i) sum += bytes[i];  // fault every page in
  ASSERT_GT(present_pages(bytes, 0, size), 200u);

  // A sequential reader moving its frontier to offsets that are never on
  // a page boundary, in steps smaller and larger than `step`.
  size_t released = 0, upto = 0;
  for (size_t k = 1; upto + 30011 < size; ++k) {
    upto += k % 3 == 0 ? 30011 : 1237;
    file.release_behind(released, upto, 16 * 1024);
    EXPECT_LE(released, upto);
    EXPECT_GT(released + 16 * 1024 + 4096, upto) << "the frontier lags by more than a step";
  }
  // Nothing wholly behind the frontier stays mapped: not even the pages
  // holding earlier frontiers.
  EXPECT_EQ(present_pages(bytes, 0, released), 0u);
  EXPECT_GT(present_pages(bytes, released, size), 0u);
  // The bytes stay readable: they are faulted back from the page cache.
  unsigned again = 0;
  for (size_t i = 0; i < size; ++i) again += bytes[i];
  EXPECT_EQ(again, sum);

  // Step 0: whatever is new goes, up to the last whole page (1 MiB is a
  // whole number of pages); what is behind the old frontier is not looked
  // at again.
  const size_t frontier = released;
  file.release_behind(released, size, 0);
  EXPECT_EQ(released, size);
  EXPECT_EQ(present_pages(bytes, frontier, size), 0u);
  EXPECT_GT(present_pages(bytes, 0, frontier), 0u);
}

}  // namespace
}  // namespace promblock
