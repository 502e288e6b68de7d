#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tsdb/merge/chunk_bytes.h"

namespace promblock::merge {
namespace {

std::vector<uint8_t> filled(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

std::span<const uint8_t> store(ChunkBytes& bytes, const std::vector<uint8_t>& data) {
  std::memcpy(bytes.reserve(data.size() + 100), data.data(), data.size());
  return bytes.take(data.size());
}

TEST(ChunkBytes, TakenBytesStayWhereTheyAreAsMoreComeAfter) {
  ChunkBytes bytes;
  std::vector<std::vector<uint8_t>> want;
  std::vector<std::span<const uint8_t>> got;
  // Many blocks' worth, one larger than a block on its own.
  for (size_t i = 0; i < 600; ++i) {
    want.push_back(filled(i == 300 ? 200 * 1024 : 1 + i * 3 % 1000, uint8_t(i)));
    got.push_back(store(bytes, want.back()));
  }
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << i;
    EXPECT_TRUE(std::equal(got[i].begin(), got[i].end(), want[i].begin())) << i;
  }
}

TEST(ChunkBytes, AReservationUnusedTakesNoRoom) {
  ChunkBytes bytes;
  auto a = store(bytes, filled(10, 1));
  bytes.reserve(5000);  // room asked for, nothing taken
  auto b = store(bytes, filled(10, 2));
  EXPECT_EQ(b.data(), a.data() + a.size());
}

TEST(ChunkBytes, ClearReusesTheBlocks) {
  ChunkBytes bytes;
  auto first = store(bytes, filled(100, 1));
  for (int i = 0; i < 100; ++i) store(bytes, filled(1000, uint8_t(i)));
  bytes.clear();
  auto again = store(bytes, filled(100, 9));
  EXPECT_EQ(again.data(), first.data());
  EXPECT_EQ(again[0], 9);
}

}  // namespace
}  // namespace promblock::merge
