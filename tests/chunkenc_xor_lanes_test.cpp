// XorLaneDecoder, which decodes many XOR chunks side by side, against
// XorIterator: the same samples and the same faults, whatever the chunks'
// lengths and whatever lies next to them.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "tests/random_values.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor_batch.h"
#include "tsdb/chunkenc/xor_lanes.h"

namespace promblock::chunkenc {
namespace {

using Samples = std::vector<testing::XorSample>;

std::vector<uint8_t> encode(const Samples& s) {
  XorEncoder e;
  for (const auto& x : s) e.append_bits(x.t, x.v_bits);
  return {e.bytes().begin(), e.bytes().end()};
}

// Samples and whether the chunk decoded without fault.
std::pair<Samples, bool> reference_decode(std::span<const uint8_t> chunk) {
  Samples out;
  XorIterator it(chunk);
  while (it.next()) out.push_back({it.t(), it.v_bits()});
  return {out, it.err().empty()};
}

Samples lane_samples(const XorLaneDecoder& lanes, int i) {
  Samples out;
  lanes.emit_samples(i, [&](uint32_t k, int64_t t, uint64_t v) {
    EXPECT_EQ(k, out.size());
    out.push_back({t, v});
  });
  return out;
}

// Lengths as merges meet them: mostly around 120, some far longer (a
// chunk cut late), some of one or two samples (no lane needed).
size_t random_length(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return 1 + rng() % 2;
    case 1:
      return 3 + rng() % (XorLaneDecoder::kMaxSamples - 2);
    default:
      return 100 + rng() % 140;
  }
}

class XorLaneDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!xor_lanes_supported()) GTEST_SKIP() << "this CPU lacks the AVX-512 the lanes use";
  }
};

// Chunks of random samples, one per length, decoded together: each gives
// back its samples.
void decodes_chunks_of(const std::vector<size_t>& lengths, std::mt19937_64& rng,
                       XorLaneDecoder& lanes) {
  std::vector<Samples> series;
  std::vector<std::vector<uint8_t>> chunks;
  lanes.clear();
  for (size_t n : lengths) {
    series.push_back(testing::random_xor_samples(rng, n));
    chunks.push_back(encode(series.back()));
    ASSERT_EQ(lanes.add(chunks.back()), int(chunks.size() - 1));
  }
  lanes.decode();
  for (size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_TRUE(lanes.ok(int(i))) << "chunk " << i;
    ASSERT_EQ(lane_samples(lanes, int(i)), series[i]) << "chunk " << i;
  }
}

TEST_F(XorLaneDecoderTest, DecodesWhatTheIteratorDecodes) {
  std::mt19937_64 rng(1);
  XorLaneDecoder lanes;
  for (int round = 0; round < 150; ++round) {
    // 1 to 70 chunks: one register, two, three, and more than their lanes.
    std::vector<size_t> lengths(1 + rng() % 70);
    for (auto& n : lengths) n = random_length(rng);
    SCOPED_TRACE(round);
    decodes_chunks_of(lengths, rng, lanes);
  }
}

TEST_F(XorLaneDecoderTest, ChunksOfOneOrTwoSamplesAmongLongOnes) {
  // Mostly chunks that need no lane (a merge of many short blocks' heads),
  // some that do: every sample lands where its chunk's are read from.
  std::mt19937_64 rng(6);
  XorLaneDecoder lanes;
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> lengths;
    for (size_t i = 0; i < 90; ++i)
      lengths.push_back(i % 11 == 0 ? 130 : i % 7 == 0 ? 3 : 1 + rng() % 2);
    SCOPED_TRACE(round);
    decodes_chunks_of(lengths, rng, lanes);
  }
}

TEST_F(XorLaneDecoderTest, FindsTheSameFaultsAsTheIteratorNextToGoodChunks) {
  std::mt19937_64 rng(2);
  XorLaneDecoder lanes;
  size_t faulty = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::vector<uint8_t>> chunks;
    lanes.clear();
    for (size_t n = 1 + rng() % 30; chunks.size() < n;) {
      auto chunk = encode(testing::random_xor_samples(rng, random_length(rng) % 200 + 1));
      if (rng() % 2) {
        for (int f = int(rng() % 4); f > 0; --f)
          chunk[rng() % chunk.size()] ^= uint8_t(1 + rng() % 255);
        chunk.resize(2 + rng() % (chunk.size() - 1));
      }
      chunks.push_back(std::move(chunk));
      if (lanes.add(chunks.back()) < 0) {
        // Only a chunk the lanes do not take: no samples, or too many.
        uint32_t total = uint32_t(chunks.back()[0]) << 8 | chunks.back()[1];
        ASSERT_TRUE(total == 0 || total > XorLaneDecoder::kMaxSamples) << total;
        chunks.pop_back();
      }
    }
    lanes.decode();
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto [want, want_ok] = reference_decode(chunks[i]);
      ASSERT_EQ(lanes.ok(int(i)), want_ok) << "round " << round << " chunk " << i;
      if (want_ok) {
        ASSERT_EQ(lane_samples(lanes, int(i)), want) << "round " << round << " chunk " << i;
      }
      faulty += !want_ok;
    }
  }
  EXPECT_GT(faulty, 1000u) << "the faults were exercised";
}

TEST_F(XorLaneDecoderTest, TakesOnlyChunksWithSamplesWithinItsLimit) {
  XorLaneDecoder lanes;
  EXPECT_EQ(lanes.add({}), -1);
  const std::vector<uint8_t> header_only = {0, 0};
  EXPECT_EQ(lanes.add(header_only), -1);
  std::mt19937_64 rng(3);
  auto longest = encode(testing::random_xor_samples(rng, XorLaneDecoder::kMaxSamples));
  auto too_long = encode(testing::random_xor_samples(rng, XorLaneDecoder::kMaxSamples + 1));
  EXPECT_EQ(lanes.add(too_long), -1);
  EXPECT_EQ(lanes.add(longest), 0);
  lanes.decode();
  EXPECT_TRUE(lanes.ok(0));
  EXPECT_EQ(lane_samples(lanes, 0), reference_decode(longest).first);
}

class XorLaneEncoderTest : public XorLaneDecoderTest {};

// Samples as a merge holds them: more than t and v_bits, 24 bytes apart.
struct Tagged {
  int64_t t;
  uint64_t v_bits;
  uint32_t chunk, position;
};

TEST_F(XorLaneEncoderTest, WritesTheBytesOfTheOneByOneEncoder) {
  std::mt19937_64 rng(4);
  for (int round = 0; round < 400; ++round) {
    // 1 to 8 chunks of any length, every bucket and window case; some of
    // them plain samples 16 bytes apart, by their own stride.
    const size_t count = 1 + rng() % XorLaneEncoder::kLanes;
    std::vector<std::vector<Tagged>> samples(count);
    std::vector<Samples> plain(count);
    std::vector<std::vector<uint8_t>> dst(count), want(count);
    XorLaneEncoder::Chunk lanes[XorLaneEncoder::kLanes];
    for (size_t j = 0; j < count; ++j) {
      plain[j] = testing::random_xor_samples(rng, random_length(rng));
      for (const auto& x : plain[j]) samples[j].push_back({x.t, x.v_bits, 7, 9});
      want[j].resize(xor_max_encoded_size(samples[j].size()));
      want[j].resize(xor_encode_chunk(samples[j].data(), samples[j].size(), want[j].data()));
      // Exactly the room it asks for, so that AddressSanitizer sees overruns.
      dst[j].resize(XorLaneEncoder::room(samples[j].size()));
      lanes[j] = {samples[j].data(), uint32_t(samples[j].size()), dst[j].data(), 0, sizeof(Tagged)};
      if (rng() % 2) lanes[j].samples = plain[j].data(), lanes[j].stride = sizeof(plain[j][0]);
    }
    XorLaneEncoder::encode(std::span(lanes, count));
    for (size_t j = 0; j < count; ++j) {
      ASSERT_EQ(lanes[j].size, want[j].size()) << "round " << round << " chunk " << j;
      ASSERT_TRUE(std::equal(want[j].begin(), want[j].end(), dst[j].begin()))
          << "round " << round << " chunk " << j;
    }
  }
}

TEST_F(XorLaneEncoderTest, EncodesWhatTheIteratorReadsBack) {
  // Stride 16: the samples alone; values with every window (stale markers,
  // NaN payloads, any bits) and timestamps far apart.
  std::mt19937_64 rng(5);
  for (int round = 0; round < 100; ++round) {
    std::vector<Samples> series(XorLaneEncoder::kLanes);
    std::vector<std::vector<uint8_t>> dst(series.size());
    XorLaneEncoder::Chunk lanes[XorLaneEncoder::kLanes];
    for (size_t j = 0; j < series.size(); ++j) {
      series[j] = testing::random_xor_samples(rng, 1 + rng() % 300);
      dst[j].resize(XorLaneEncoder::room(series[j].size()));
      lanes[j] = {series[j].data(), uint32_t(series[j].size()), dst[j].data(), 0,
                  sizeof(testing::XorSample)};
    }
    XorLaneEncoder::encode(lanes);
    for (size_t j = 0; j < series.size(); ++j) {
      auto [got, ok] = reference_decode(std::span(dst[j].data(), lanes[j].size));
      ASSERT_TRUE(ok) << "round " << round << " chunk " << j;
      ASSERT_EQ(got, series[j]) << "round " << round << " chunk " << j;
    }
  }
}

}  // namespace
}  // namespace promblock::chunkenc
