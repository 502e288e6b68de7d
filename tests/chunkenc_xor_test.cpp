#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tests/random_values.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::chunkenc {
namespace {

struct Sample {
  int64_t t;
  uint64_t v_bits;
};

Sample sample(int64_t t, double v) { return {t, std::bit_cast<uint64_t>(v)}; }

std::vector<uint8_t> encode(const std::vector<Sample>& samples) {
  XorEncoder e;
  for (const auto& s : samples) e.append_bits(s.t, s.v_bits);
  EXPECT_EQ(e.num_samples(), samples.size());
  return {e.bytes().begin(), e.bytes().end()};
}

std::vector<Sample> decode(std::span<const uint8_t> chunk, std::string* err = nullptr) {
  std::vector<Sample> out;
  XorIterator it(chunk);
  while (it.next()) out.push_back({it.t(), it.v_bits()});
  if (err) *err = it.err();
  return out;
}

void expect_round_trip(const std::vector<Sample>& samples) {
  auto chunk = encode(samples);
  ASSERT_GE(chunk.size(), 2u);
  EXPECT_EQ(size_t(chunk[0] << 8 | chunk[1]), samples.size());
  std::string err;
  auto got = decode(chunk, &err);
  EXPECT_EQ(err, "");
  ASSERT_EQ(got.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    ASSERT_EQ(got[i].t, samples[i].t) << "sample " << i;
    ASSERT_EQ(got[i].v_bits, samples[i].v_bits) << "sample " << i;
  }
  // Extra padding (even a whole zero byte, as old Prometheus writes) is ignored.
  chunk.push_back(0);
  EXPECT_EQ(decode(chunk, &err).size(), samples.size());
  EXPECT_EQ(err, "");
}

TEST(XorChunk, EncodingNames) {
  EXPECT_EQ(encoding_name(1), "XOR");
  EXPECT_EQ(encoding_name(2), "histogram");
  EXPECT_EQ(encoding_name(3), "floathistogram");
  EXPECT_EQ(encoding_name(0xff), "unknown(255)");
}

TEST(XorChunk, EmptyChunk) {
  XorEncoder e;
  EXPECT_EQ(e.num_samples(), 0);
  ASSERT_EQ(e.bytes().size(), 2u);
  XorIterator it(e.bytes());
  EXPECT_FALSE(it.next());
  EXPECT_EQ(it.err(), "");
}

TEST(XorChunk, SingleSampleLayout) {
  // Header 0x0001, zig-zag varint of 1000 (2000 = 0xd0 0x0f), raw value bits.
  XorEncoder e;
  e.append(1000, 1.0);
  std::vector<uint8_t> want = {0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::vector<uint8_t>(e.bytes().begin(), e.bytes().end()), want);
}

TEST(XorChunk, RegularScrapes) {
  for (size_t n : {1, 2, 3, 120, 121, 1000}) {
    std::vector<Sample> s;
    for (size_t i = 0; i < n; ++i)
      s.push_back(sample(1700000000000 + int64_t(i) * 15000, double(i)));
    expect_round_trip(s);
  }
}

TEST(XorChunk, JitteredTimestampsAndRandomValues) {
  std::mt19937_64 rng(7);
  std::vector<Sample> s;
  int64_t t = 1700000000123;
  double v = 0;
  for (int i = 0; i < 120; ++i) {
    t += 15000 + int64_t(rng() % 41) - 20;
    v = testing::random_value_step(rng, v);
    s.push_back({t, std::bit_cast<uint64_t>(v)});
  }
  expect_round_trip(s);
}

TEST(XorChunk, DeltaOfDeltaBucketBoundaries) {
  // Each bucket holds [-(2^(n-1) - 1), 2^(n-1)]; probe both edges and one past.
  for (int64_t bits : {14, 17, 20}) {
    int64_t half = int64_t(1) << (bits - 1);
    for (int64_t dod : {half, half + 1, -(half - 1), -half, -(half + 1)}) {
      int64_t base = 10 * (int64_t(1) << 20);  // keeps deltas positive
      std::vector<Sample> s = {sample(0, 1), sample(base, 2), sample(2 * base + dod, 3),
                               sample(3 * base + 2 * dod, 4), sample(4 * base + 2 * dod, 5)};
      expect_round_trip(s);
    }
  }
  // 64-bit bucket, including deltas that wrap.
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  expect_round_trip({sample(0, 1), sample(1, 1), sample(int64_t(1) << 40, 1), sample(kMax, 1)});
  expect_round_trip({sample(kMin, 1), sample(kMax, 2), sample(kMin, 3), sample(0, 4)});
}

TEST(XorChunk, NegativeAndDecreasingTimestamps) {
  expect_round_trip({sample(-1000, 1), sample(-500, 2), sample(-1, 3), sample(0, 4), sample(7, 5)});
  expect_round_trip({sample(100, 1), sample(50, 2), sample(60, 3), sample(-60, 4)});
  expect_round_trip({sample(5, 1), sample(5, 2), sample(5, 3)});
}

TEST(XorChunk, SpecialValuesKeepTheirBits) {
  const uint64_t kStaleNaN = 0x7ff0000000000002;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Sample> s = {
      sample(0, std::nan("")),
      {1, kStaleNaN},
      sample(2, inf),
      sample(3, -inf),
      sample(4, -0.0),
      sample(5, 0.0),
      {6, 0xfff8000000000001},  // negative NaN with payload
      sample(7, std::numeric_limits<double>::denorm_min()),
      sample(8, -std::numeric_limits<double>::max()),
      {9, kStaleNaN},
      {10, kStaleNaN},
      sample(11, 1.5),
  };
  expect_round_trip(s);
  auto chunk = encode(s);
  XorIterator it(chunk);
  ASSERT_TRUE(it.next());
  ASSERT_TRUE(it.next());
  EXPECT_EQ(it.v_bits(), kStaleNaN);
  EXPECT_TRUE(std::isnan(it.v()));
  ASSERT_TRUE(it.next());
  ASSERT_TRUE(it.next());
  ASSERT_TRUE(it.next());
  EXPECT_TRUE(std::signbit(it.v()));
  EXPECT_EQ(it.v(), 0.0);
}

TEST(XorChunk, LeadingZerosClampedTo31) {
  // XORs with 32+ leading zeros must be written with leading = 31.
  expect_round_trip({sample(0, 1.0),
                     sample(1, std::bit_cast<double>(std::bit_cast<uint64_t>(1.0) ^ 1)),
                     sample(2, std::bit_cast<double>(std::bit_cast<uint64_t>(1.0) ^ 0xffff)),
                     sample(3, std::bit_cast<double>(uint64_t(1))), sample(4, 0.0)});
  // Reused windows, then a window with 64 significant bits (stored as 0).
  expect_round_trip({sample(0, 0.0), sample(1, std::bit_cast<double>(uint64_t(0x8000000000000001))),
                     sample(2, 0.0), sample(3, 1.0), sample(4, 3.0), sample(5, 7.0)});
}

TEST(XorChunk, MaxSamples) {
  std::mt19937_64 rng(3);
  std::vector<Sample> s;
  int64_t t = -5;
  for (int i = 0; i < 65535; ++i) {
    t += int64_t(rng() % 100000);
    s.push_back(sample(t, double(rng() % 50) * 0.25));
  }
  expect_round_trip(s);
  XorEncoder e;
  for (const auto& x : s) e.append_bits(x.t, x.v_bits);
  EXPECT_EQ(e.num_samples(), 65535);
  EXPECT_THROW(e.append(t + 1, 0), Error);
}

TEST(XorChunk, ShortHeader) {
  std::vector<uint8_t> one = {0};
  XorIterator it(one);
  EXPECT_FALSE(it.next());
  EXPECT_NE(it.err(), "");
  XorIterator empty{std::span<const uint8_t>()};
  EXPECT_FALSE(empty.next());
  EXPECT_NE(empty.err(), "");
}

TEST(XorChunk, EveryTruncationFailsCleanly) {
  std::mt19937_64 rng(11);
  std::vector<Sample> s;
  int64_t t = 1700000000000;
  for (int i = 0; i < 120; ++i) {
    t += (i % 10 == 0) ? int64_t(rng() % 2000000) : 15000;
    s.push_back(sample(t, (i % 3) ? double(rng() % 100) / 3 : 1.0));
  }
  auto chunk = encode(s);
  for (size_t len = 0; len < chunk.size(); ++len) {
    // A copy of exactly `len` bytes so AddressSanitizer sees any overrun.
    std::vector<uint8_t> cut(chunk.begin(), chunk.begin() + len);
    std::string err;
    auto got = decode(cut, &err);
    // The last byte may hold only padding, so dropping it can still decode.
    if (got.size() == s.size()) {
      EXPECT_EQ(len, chunk.size() - 1);
      continue;
    }
    EXPECT_NE(err, "") << "length " << len;
    if (len >= 2) {
      EXPECT_NE(err.find("chunk ends before its 120 samples"), std::string::npos) << err;
    }
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].t, s[i].t);
      ASSERT_EQ(got[i].v_bits, s[i].v_bits);
    }
  }
}

TEST(XorChunk, CorruptedBytesNeverCrash) {
  std::mt19937_64 rng(5);
  std::vector<Sample> s;
  for (int i = 0; i < 60; ++i)
    s.push_back(sample(i * 1000 + int64_t(rng() % 7), double(rng() % 9)));
  auto chunk = encode(s);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> bad = chunk;
    int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
    bad.resize(rng() % (bad.size() + 1));
    XorIterator it(bad);
    int n = 0;
    while (it.next()) ++n;
    EXPECT_LE(n, 65535);
  }
  // Entirely random chunks, including huge sample counts.
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> junk(rng() % 64);
    for (auto& b : junk) b = uint8_t(rng());
    XorIterator it(junk);
    while (it.next()) {
    }
  }
}

TEST(XorChunk, ErrorForBadWindow) {
  // Sample 1 with a new window of 31 leading zeros and 63 significant bits.
  std::vector<uint8_t> chunk = {0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
                                // 1 1 11111 111111 ...
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::string err;
  auto got = decode(chunk, &err);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_NE(err.find("invalid XOR window"), std::string::npos) << err;
}

}  // namespace
}  // namespace promblock::chunkenc
