// Native histogram chunks: varbit integers, the layout, delta-of-delta
// samples, faults, and Prometheus's text form of a histogram.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "tests/histogram_fixtures.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/float_histogram_encoder.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/chunkenc/varbit.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::chunkenc {
namespace {

TEST(Varbit, RoundTripsBucketEdges) {
  std::vector<int64_t> ints = {0, std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max()};
  for (int bits : {3, 6, 9, 12, 18, 25, 56}) {
    int64_t half = int64_t(1) << (bits - 1);
    for (int64_t v : {half, half + 1, -(half - 1), -half, -(half + 1)}) ints.push_back(v);
  }
  std::vector<uint64_t> uints = {0, ~uint64_t(0)};
  for (int bits : {3, 6, 9, 12, 18, 25, 56})
    for (uint64_t v : {(uint64_t(1) << bits) - 1, uint64_t(1) << bits}) uints.push_back(v);
  enc::BitWriter w;
  for (int64_t v : ints) write_varbit_int(w, v);
  for (uint64_t v : uints) write_varbit_uint(w, v);
  auto bytes = w.bytes();
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  enc::BitReader r(copy);
  for (int64_t want : ints) {
    int64_t got;
    ASSERT_TRUE(read_varbit_int(r, got));
    EXPECT_EQ(got, want);
  }
  for (uint64_t want : uints) {
    uint64_t got;
    ASSERT_TRUE(read_varbit_uint(r, got));
    EXPECT_EQ(got, want);
  }
}

TEST(Varbit, SizesMatchPrometheus) {
  // 0 takes 1 bit, 4 takes 5 (prefix 10 + 3), 5 takes 9 (110 + 6).
  for (auto [v, bits] : {std::pair<int64_t, size_t>{0, 1}, {4, 5}, {-3, 5}, {5, 9}, {-4, 9}}) {
    enc::BitWriter w;
    write_varbit_int(w, v);
    EXPECT_EQ(w.bytes().size(), (bits + 7) / 8) << v;
  }
}

// Three samples of schema 0 with buckets 1, 2 (span at 1) and 5 (span
// skipping 2), a zero bucket of threshold 2^-128, and a flags byte.
std::vector<uint8_t> sample_chunk(uint8_t flags) {
  enc::BitWriter w;
  w.write_bits(3, 16);      // samples
  w.write_bits(flags, 8);   // counter reset header
  w.write_bits(116, 8);     // zero threshold 2^-128 = 0.5 * 2^(116 - 243)
  write_varbit_int(w, 0);   // schema
  write_varbit_uint(w, 2);  // positive spans
  write_varbit_uint(w, 2), write_varbit_int(w, 1);
  write_varbit_uint(w, 1), write_varbit_int(w, 2);
  write_varbit_uint(w, 0);  // negative spans
  // Sample 0 at t=1000: count 5, zero 1, sum 4.5, buckets 2 1 2 (deltas 2 -1 1).
  write_varbit_int(w, 1000);
  write_varbit_uint(w, 5), write_varbit_uint(w, 1);
  w.write_bits(std::bit_cast<uint64_t>(4.5), 64);
  for (int64_t d : {2, -1, 1}) write_varbit_int(w, d);
  // Sample 1 at t=16000: count 8, zero 1, sum unchanged, buckets 3 2 5.
  write_varbit_int(w, 15000), write_varbit_int(w, 3), write_varbit_int(w, 0);
  w.write_bits(0, 1);  // sum: same as before
  for (int64_t dod : {1, 0, 2}) write_varbit_int(w, dod);
  // Sample 2 at t=31000 (same spacing): count 8, zero 0, buckets 3 3 6.
  write_varbit_int(w, 0), write_varbit_int(w, -3), write_varbit_int(w, -1);
  w.write_bits(0, 1);
  for (int64_t dod : {-1, 1, -2}) write_varbit_int(w, dod);
  auto b = w.bytes();
  return {b.begin(), b.end()};
}

TEST(HistogramChunk, DecodesLayoutAndSamples) {
  auto chunk = sample_chunk(0xc0);
  HistogramIterator it(chunk);
  EXPECT_EQ(it.counter_reset_header(), CounterResetHeader::kGauge);
  std::vector<std::string> text;
  std::vector<int64_t> times;
  while (it.next()) {
    HistogramSample h;
    it.at(h);
    text.push_back(format_histogram(h));
    times.push_back(it.t());
  }
  ASSERT_EQ(it.err(), "");
  EXPECT_EQ(it.layout().schema, 0);
  EXPECT_EQ(it.layout().zero_threshold, std::ldexp(1.0, -128));
  EXPECT_EQ(times, (std::vector<int64_t>{1000, 16000, 31000}));
  EXPECT_EQ(text, (std::vector<std::string>{
                      "{count:5, sum:4.5, [-2.938735877055719e-39,2.938735877055719e-39]:1, "
                      "(1,2]:2, (2,4]:1, (16,32]:2}",
                      "{count:8, sum:4.5, [-2.938735877055719e-39,2.938735877055719e-39]:1, "
                      "(1,2]:3, (2,4]:2, (16,32]:5}",
                      "{count:8, sum:4.5, (1,2]:3, (2,4]:3, (16,32]:6}"}));
}

TEST(HistogramChunk, CounterResetHeaders) {
  EXPECT_EQ(HistogramIterator(sample_chunk(0x00)).counter_reset_header(),
            CounterResetHeader::kUnknown);
  EXPECT_EQ(HistogramIterator(sample_chunk(0x40)).counter_reset_header(),
            CounterResetHeader::kNotCounterReset);
  EXPECT_EQ(HistogramIterator(sample_chunk(0x80)).counter_reset_header(),
            CounterResetHeader::kCounterReset);
}

TEST(HistogramChunk, NegativeBucketsAndOtherSchemas) {
  HistogramSample h;
  h.layout.schema = 2;
  h.layout.zero_threshold = 0.001;
  h.layout.negative_spans = {{0, 2}};
  h.layout.positive_spans = {{-1, 1}, {2, 1}};
  h.count = 9, h.zero_count = 2, h.sum = -0.25;
  h.negative = {3, 1};
  h.positive = {0, 3};
  // Schema 2: bucket i is (2^((i-1)/4), 2^(i/4)]; negatives listed first,
  // from the most negative; empty buckets left out.
  EXPECT_EQ(format_histogram(h),
            "{count:9, sum:-0.25, [-1.189207115002721,-1):1, [-1,-0.8408964152537145):3, "
            "[-0.001,0.001]:2, (1.189207115002721,1.4142135623730951]:3}");
}

TEST(HistogramChunk, EveryTruncationFailsCleanly) {
  auto chunk = sample_chunk(0);
  for (size_t len = 0; len < chunk.size(); ++len) {
    std::vector<uint8_t> cut(chunk.begin(), chunk.begin() + len);
    HistogramIterator it(cut);
    int n = 0;
    while (it.next()) ++n;
    if (n == 3) continue;  // only padding was cut
    EXPECT_NE(it.err(), "") << "length " << len;
  }
}

TEST(HistogramChunk, CorruptedBytesNeverCrash) {
  std::mt19937_64 rng(9);
  auto chunk = sample_chunk(0);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> bad = chunk;
    for (int f = 0; f < 1 + int(rng() % 4); ++f)
      bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
    bad.resize(rng() % (bad.size() + 1));
    HistogramIterator it(bad);
    int n = 0;
    while (it.next()) ++n;
    EXPECT_LE(n, 65535);
  }
}

TEST(HistogramChunk, HugeSpanCountsAreRefusedBeforeAllocating) {
  enc::BitWriter w;
  w.write_bits(1, 16), w.write_bits(0, 8), w.write_bits(0, 8);
  write_varbit_int(w, 0);
  write_varbit_uint(w, uint64_t(1) << 40);  // spans the 12 bytes cannot hold
  auto b = w.bytes();
  std::vector<uint8_t> chunk(b.begin(), b.end());
  HistogramIterator it(chunk);
  EXPECT_FALSE(it.next());
  EXPECT_NE(it.err().find("spans"), std::string::npos) << it.err();
}

}  // namespace
}  // namespace promblock::chunkenc

namespace promblock::chunkenc {
namespace {

// Every histogram chunk of the fixture blocks (written by Prometheus 2.42),
// read straight from the segment files: length, encoding, data, CRC.
std::vector<std::vector<uint8_t>> fixture_histogram_chunks() {
  return testing::fixture_chunks(Encoding::kHistogram);
}

TEST(HistogramEncoder, ReproducesPrometheusChunksByteForByte) {
  auto chunks = fixture_histogram_chunks();
  ASSERT_GE(chunks.size(), 16u);  // 4 histogram series x 2 blocks x 2 replicas
  std::set<CounterResetHeader> headers;
  for (const auto& chunk : chunks) {
    HistogramIterator it(chunk);
    HistogramEncoder enc(it.counter_reset_header());
    headers.insert(it.counter_reset_header());
    HistogramSample h;
    while (it.next()) {
      it.at(h);
      enc.append(it.t(), h);
    }
    ASSERT_EQ(it.err(), "");
    auto got = enc.bytes();
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), chunk);
  }
  // The fixtures hold gauge histograms next to counter ones.
  EXPECT_TRUE(headers.count(CounterResetHeader::kGauge)) << headers.size();
}

TEST(HistogramEncoder, RoundTripsStaleMarkersAndCustomBounds) {
  HistogramSample a;
  a.layout.schema = -53;
  a.layout.custom_bounds = {0.1, 0.25, 1, 2.5, 1e9, 0.0001};
  a.layout.positive_spans = {{0, 3}};
  a.count = 6, a.sum = 3.25, a.positive = {1, 2, 3};
  HistogramSample stale;
  stale.sum = std::bit_cast<double>(uint64_t(0x7ff0000000000002));
  HistogramSample b = a;
  b.count = 9, b.sum = 4.5, b.positive = {2, 3, 4};
  HistogramEncoder enc(CounterResetHeader::kNotCounterReset);
  enc.append(1000, a);
  enc.append(2000, b);
  enc.append(3000, stale);
  // After a stale marker only stale markers may follow: Prometheus starts a
  // new chunk for the next real sample, and so must the caller.
  EXPECT_THROW(enc.append(4000, b), Error);
  auto bytes = enc.bytes();
  std::vector<uint8_t> chunk(bytes.begin(), bytes.end());
  HistogramIterator it(chunk);
  std::vector<std::string> text;
  HistogramSample h;
  while (it.next()) {
    it.at(h);
    text.push_back(format_histogram(h));
  }
  ASSERT_EQ(it.err(), "");
  EXPECT_EQ(it.layout().custom_bounds, a.layout.custom_bounds);
  EXPECT_EQ(text, (std::vector<std::string>{"{count:6, sum:3.25, (-Inf,0.1]:1, (0.1,0.25]:2, "
                                            "(0.25,1]:3}",
                                            "{count:9, sum:4.5, (-Inf,0.1]:2, (0.1,0.25]:3, "
                                            "(0.25,1]:4}",
                                            "{count:0, sum:NaN}"}));
}

TEST(FloatHistogramEncoder, ReproducesPrometheusChunksByteForByte) {
  // Float histograms recorded by rules of the fixture servers (sum() of
  // counter histograms, rate() of one), written by Prometheus 2.42.
  auto chunks = testing::fixture_chunks(Encoding::kFloatHistogram);
  ASSERT_GE(chunks.size(), 8u);  // 2 recorded series x 2 blocks x 2 replicas
  size_t fractional = 0;
  for (const auto& chunk : chunks) {
    FloatHistogramIterator it(chunk);
    FloatHistogramEncoder enc(it.counter_reset_header());
    FloatHistogramSample h;
    while (it.next()) {
      it.at(h);
      enc.append(it.t(), h);
      for (double b : h.positive) fractional += b != std::floor(b);
    }
    ASSERT_EQ(it.err(), "");
    auto got = enc.bytes();
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), chunk);
  }
  EXPECT_GT(fractional, 0u);  // rate() gives counts that are not whole
}

TEST(FloatHistogramChunk, EveryTruncationAndCorruptionFailsCleanly) {
  auto chunks = testing::fixture_chunks(Encoding::kFloatHistogram);
  ASSERT_FALSE(chunks.empty());
  const auto& chunk = chunks.front();
  for (size_t n = 0; n < chunk.size(); ++n) {
    std::vector<uint8_t> cut(chunk.begin(), chunk.begin() + std::ptrdiff_t(n));
    FloatHistogramIterator it(cut);
    while (it.next()) {
    }
    EXPECT_NE(it.err(), "") << n;  // the header promises more samples
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> bad = chunk;
    bad[rng() % bad.size()] ^= uint8_t(1 << (rng() % 8));
    FloatHistogramIterator it(bad);
    FloatHistogramSample h;
    while (it.next()) it.at(h);  // must not crash or read outside `bad`
  }
}

}  // namespace
}  // namespace promblock::chunkenc
