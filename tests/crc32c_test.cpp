// CRC32-Castagnoli: the check value of the standard, and the hardware path
// (three lanes joined by zero shifts) against the table-driven one on every
// length up to past a dozen blocks, at every alignment, from a zero and any
// starting CRC.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "tsdb/base/encoding.h"

namespace promblock::enc {
namespace {

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c(bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c(bytes("")), 0u);
}

TEST(Crc32c, EveryLengthMatchesTheTables) {
  constexpr size_t kLongest = 2400;
  std::mt19937_64 rng(32);
  std::vector<uint8_t> data(kLongest + 7);
  for (auto& b : data) b = uint8_t(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n <= kLongest; ++n) {
      auto part = std::span<const uint8_t>(data).subspan(offset, n);
      for (uint32_t start : {uint32_t(0), uint32_t(rng())}) {
        ASSERT_EQ(crc32c(part, start), crc32c_portable(part, start))
            << "length " << n << " offset " << offset << " start " << start;
      }
    }
  }
}

TEST(Crc32c, ContinuesAcrossPieces) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> data(5000);
  for (auto& b : data) b = uint8_t(rng());
  for (int round = 0; round < 200; ++round) {
    size_t cut = rng() % data.size();
    auto all = std::span<const uint8_t>(data);
    EXPECT_EQ(crc32c(all.subspan(cut), crc32c(all.first(cut))), crc32c(all));
  }
}

}  // namespace
}  // namespace promblock::enc
