// The batch XOR decoder and encoder against XorIterator and XorEncoder:
// the same samples, the same bytes, the same faults.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tests/random_values.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor_batch.h"

namespace promblock::chunkenc {
namespace {

struct Sample {
  int64_t t;
  uint64_t v_bits;
  bool operator==(const Sample&) const = default;
};

std::vector<uint8_t> reference_encode(const std::vector<Sample>& s) {
  XorEncoder e;
  for (const auto& x : s) e.append_bits(x.t, x.v_bits);
  return {e.bytes().begin(), e.bytes().end()};
}

std::vector<uint8_t> batch_encode(const std::vector<Sample>& s) {
  std::vector<uint8_t> out(xor_max_encoded_size(s.size()));
  out.resize(xor_encode_chunk(s.data(), s.size(), out.data()));
  return out;
}

// Samples and whether the chunk decoded without fault.
std::pair<std::vector<Sample>, bool> reference_decode(std::span<const uint8_t> chunk) {
  std::vector<Sample> out;
  XorIterator it(chunk);
  while (it.next()) out.push_back({it.t(), it.v_bits()});
  return {out, it.err().empty()};
}

std::pair<std::vector<Sample>, bool> batch_decode(std::span<const uint8_t> chunk) {
  std::vector<Sample> out;
  std::vector<uint8_t> scratch;
  bool ok = xor_decode_chunk(chunk, scratch, [&](uint32_t k, int64_t t, uint64_t v) {
    EXPECT_EQ(k, out.size());
    out.push_back({t, v});
  });
  return {out, ok};
}

std::vector<Sample> random_series(std::mt19937_64& rng, size_t n) {
  std::vector<Sample> s;
  for (const auto& x : testing::random_xor_samples(rng, n)) s.push_back({x.t, x.v_bits});
  return s;
}

TEST(XorBatch, EncodesTheReferenceBytes) {
  std::mt19937_64 rng(1);
  for (int round = 0; round < 3000; ++round) {
    auto s = random_series(rng, rng() % 130);
    ASSERT_EQ(batch_encode(s), reference_encode(s)) << "round " << round;
  }
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  std::vector<Sample> edges = {{kMin, 0}, {kMax, ~0ull}, {kMin, 1}, {0, 1ull << 63}, {7, 1}};
  EXPECT_EQ(batch_encode(edges), reference_encode(edges));
}

TEST(XorBatch, DecodesWhatTheIteratorDecodes) {
  std::mt19937_64 rng(2);
  for (int round = 0; round < 3000; ++round) {
    auto s = random_series(rng, 1 + rng() % 130);
    auto chunk = reference_encode(s);
    auto [got, ok] = batch_decode(chunk);
    ASSERT_TRUE(ok) << "round " << round;
    ASSERT_EQ(got, s) << "round " << round;
  }
}

TEST(XorBatch, FindsTheSameFaults) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20000; ++round) {
    auto chunk = reference_encode(random_series(rng, 1 + rng() % 40));
    int flips = int(rng() % 4);
    for (int f = 0; f < flips; ++f) chunk[rng() % chunk.size()] ^= uint8_t(1 + rng() % 255);
    chunk.resize(rng() % (chunk.size() + 1));
    // An exact-size copy, so that AddressSanitizer sees any overrun.
    std::vector<uint8_t> bad(chunk.begin(), chunk.end());
    auto [want, want_ok] = reference_decode(bad);
    auto [got, got_ok] = batch_decode(bad);
    ASSERT_EQ(got_ok, want_ok) << "round " << round;
    if (want_ok) {
      ASSERT_EQ(got, want) << "round " << round;
    } else {
      EXPECT_NE(xor_chunk_error(bad), "");
    }
  }
}

TEST(XorBatch, ErrorNamesTheFault) {
  std::vector<Sample> s = {{1000, 1}, {2000, 2}, {3000, 3}};
  auto chunk = reference_encode(s);
  chunk.resize(chunk.size() - 2);
  auto [got, ok] = batch_decode(chunk);
  EXPECT_FALSE(ok);
  EXPECT_NE(xor_chunk_error(chunk).find("chunk ends before its 3 samples"), std::string::npos);
}

}  // namespace
}  // namespace promblock::chunkenc
