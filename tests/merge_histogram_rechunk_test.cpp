// Re-encoding merged native histograms: counter reset detection, where
// chunks are cut and what their headers say, union layouts, and whole
// input chunks copied only where their headers still hold.
#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/histogram_fixtures.h"
#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/merge/histogram_rechunk.h"
#include "tsdb/merge/rechunk.h"

namespace promblock::merge {
namespace {

using chunkenc::CounterResetHeader;
using chunkenc::HistogramSample;

// A schema-0 histogram with the given positive buckets {index: count}.
HistogramSample hist(std::map<int32_t, int64_t> buckets, uint64_t zero_count = 0) {
  HistogramSample h;
  int32_t next = 0;
  for (auto [index, count] : buckets) {
    if (!h.layout.positive_spans.empty() && index == next)
      ++h.layout.positive_spans.back().length;
    else
      h.layout.positive_spans.push_back({index - next, 1});
    next = index + 1;
    h.positive.push_back(count);
    h.count += uint64_t(count);
  }
  h.zero_count = zero_count;
  h.count += zero_count;
  h.sum = double(h.count) * 0.5;
  return h;
}

HistogramSample stale() {
  HistogramSample h;
  h.sum = std::bit_cast<double>(chunkenc::kStaleNaNBits);
  return h;
}

std::vector<HistogramRef> refs(const std::vector<HistogramSample>& hs, bool gauge = false) {
  std::vector<HistogramRef> out;
  for (size_t i = 0; i < hs.size(); ++i) out.push_back({int64_t(i) * 1000, &hs[i], gauge});
  return out;
}

std::vector<std::string> decode_text(std::span<const uint8_t> chunk,
                                     CounterResetHeader* header = nullptr) {
  std::vector<uint8_t> copy(chunk.begin(), chunk.end());
  chunkenc::HistogramIterator it(copy);
  std::vector<std::string> out;
  HistogramSample h;
  while (it.next()) {
    it.at(h);
    out.push_back(chunkenc::format_histogram(h));
  }
  EXPECT_EQ(it.err(), "");
  if (header) *header = it.counter_reset_header();
  return out;
}

TEST(HistogramCounterChange, FollowsPrometheusResetRules) {
  auto a = hist({{1, 2}, {2, 3}}, 1);
  EXPECT_EQ(counter_change(a, hist({{1, 2}, {2, 4}}, 1)), CounterChange::kNoReset);
  EXPECT_EQ(counter_change(a, hist({{0, 1}, {1, 2}, {2, 3}}, 1)), CounterChange::kNoReset);
  EXPECT_EQ(counter_change(a, hist({{1, 1}, {2, 9}}, 1)), CounterChange::kReset);  // bucket down
  EXPECT_EQ(counter_change(a, hist({{2, 9}}, 1)), CounterChange::kReset);  // populated bucket gone
  EXPECT_EQ(counter_change(a, hist({{1, 2}, {2, 3}}, 0)), CounterChange::kReset);  // zero count
  auto fewer = a;
  fewer.count -= 1;  // the total alone went down
  EXPECT_EQ(counter_change(a, fewer), CounterChange::kReset);
  // An empty bucket may vanish without a reset.
  EXPECT_EQ(counter_change(hist({{1, 0}, {2, 3}}), hist({{2, 3}})), CounterChange::kNoReset);
  auto other_schema = hist({{1, 2}, {2, 3}}, 1);
  other_schema.layout.schema = 1;
  EXPECT_EQ(counter_change(a, other_schema), CounterChange::kIncomparable);
  auto other_threshold = a;
  other_threshold.layout.zero_threshold = 0.001;
  EXPECT_EQ(counter_change(a, other_threshold), CounterChange::kIncomparable);
}

TEST(HistogramPlan, CutsAt120SamplesAndOnResets) {
  std::vector<HistogramSample> hs;
  for (int i = 0; i < 250; ++i) hs.push_back(hist({{1, i % 200}}));  // resets at 200
  auto plan = plan_histogram_chunks(refs(hs), nullptr);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].begin, 0u);
  EXPECT_EQ(plan[0].header, CounterResetHeader::kUnknown);  // nothing before it to compare
  EXPECT_EQ(plan[1].begin, 120u);
  EXPECT_EQ(plan[1].header, CounterResetHeader::kNotCounterReset);
  EXPECT_EQ(plan[2].begin, 200u);
  EXPECT_EQ(plan[2].end, 250u);
  EXPECT_EQ(plan[2].header, CounterResetHeader::kCounterReset);

  // The sample before the stretch decides the first header.
  auto higher = hist({{1, 500}});
  EXPECT_EQ(plan_histogram_chunks(refs(hs), &higher)[0].header, CounterResetHeader::kCounterReset);
  auto lower = hist({{1, 0}});
  EXPECT_EQ(plan_histogram_chunks(refs(hs), &lower)[0].header,
            CounterResetHeader::kNotCounterReset);
}

TEST(HistogramPlan, CutsOnSchemaGaugeAndAfterStaleMarkers) {
  std::vector<HistogramSample> hs = {hist({{1, 1}}), hist({{1, 2}}), stale(),
                                     stale(),        hist({{1, 3}}), hist({{1, 4}})};
  hs[5].layout.schema = 2;
  auto plan = plan_histogram_chunks(refs(hs), nullptr);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].end, 4u);  // stale markers end the chunk they follow
  EXPECT_EQ(plan[1].begin, 4u);
  EXPECT_EQ(plan[1].header, CounterResetHeader::kNotCounterReset);  // 3 after 2
  EXPECT_EQ(plan[2].begin, 5u);
  EXPECT_EQ(plan[2].header, CounterResetHeader::kUnknown);  // other schema: cannot tell

  // Gauges go up and down in one chunk; a switch to counters cuts.
  std::vector<HistogramSample> gs = {hist({{1, 5}}), hist({{1, 2}}), hist({{1, 7}})};
  auto g = refs(gs, true);
  g[2].gauge = false;
  plan = plan_histogram_chunks(g, nullptr);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].header, CounterResetHeader::kGauge);
  EXPECT_EQ(plan[0].end, 2u);
}

// Prometheus 3.14 (storage/series.go seriesToChunkEncoder): samples with a
// start timestamp go to histogram-ST chunks, those without to plain ones;
// the two never share a chunk.
TEST(HistogramPlan, CutsWhereStartTimestampsStartOrStop) {
  std::vector<HistogramSample> hs{hist({{0, 1}}), hist({{0, 2}}), hist({{0, 3}}), hist({{0, 4}})};
  auto rs = refs(hs);
  rs[1].st = rs[2].st = -500;
  auto plan = plan_histogram_chunks(rs, nullptr);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[1].begin, 1u);
  EXPECT_EQ(plan[1].end, 3u);
  std::vector<uint8_t> bytes;
  auto part = std::span<const HistogramRef>(rs).subspan(1, 2);
  encode_histogram_chunk(part, plan[1].header, bytes);
  chunkenc::HistogramIterator it(bytes, chunkenc::HistogramFormat::kWithST);
  int n = 0;
  while (it.next()) {
    EXPECT_EQ(it.st(), -500);
    EXPECT_EQ(it.count(), uint64_t(2 + n));
    ++n;
  }
  EXPECT_EQ(it.err(), "");
  EXPECT_EQ(n, 2);
}

TEST(HistogramEncodeChunk, UsesTheUnionOfTheSamplesBuckets) {
  // Buckets appear in a counter histogram and vanish in a gauge histogram:
  // either way one chunk, every sample decoding to what it was.
  for (bool gauge : {false, true}) {
    std::vector<HistogramSample> hs =
        gauge ? std::vector{hist({{1, 5}, {2, 3}}), hist({{2, 1}}), hist({{-3, 2}, {7, 1}})}
              : std::vector{hist({{1, 1}}), hist({{1, 2}, {3, 1}}), hist({{0, 1}, {1, 2}, {3, 1}})};
    auto r = refs(hs, gauge);
    auto plan = plan_histogram_chunks(r, nullptr);
    ASSERT_EQ(plan.size(), 1u) << gauge;
    std::vector<uint8_t> bytes;
    encode_histogram_chunk(r, plan[0].header, bytes);
    CounterResetHeader header;
    auto text = decode_text(bytes, &header);
    std::vector<std::string> want;
    for (const auto& h : hs) want.push_back(chunkenc::format_histogram(h));
    EXPECT_EQ(text, want) << gauge;
    EXPECT_EQ(header, gauge ? CounterResetHeader::kGauge : CounterResetHeader::kUnknown);
  }
}

// Prometheus's chunks already share one layout per chunk (it recodes as
// buckets appear): planning their samples again gives the same chunk, byte
// for byte.
template <class Iterator, class Sample>
void expect_replanned_unchanged(chunkenc::Encoding encoding, size_t at_least) {
  auto chunks = testing::fixture_chunks(encoding);
  ASSERT_GE(chunks.size(), at_least);
  for (const auto& chunk : chunks) {
    Iterator it(chunk);
    std::vector<Sample> hs;
    std::vector<int64_t> ts;
    while (it.next()) {
      hs.emplace_back();
      it.at(hs.back());
      ts.push_back(it.t());
    }
    ASSERT_EQ(it.err(), "");
    bool gauge = it.counter_reset_header() == CounterResetHeader::kGauge;
    std::vector<BasicHistogramRef<Sample>> r;
    for (size_t i = 0; i < hs.size(); ++i) r.push_back({ts[i], &hs[i], gauge});
    auto plan = plan_histogram_chunks(r, nullptr);
    ASSERT_EQ(plan.size(), 1u);
    std::vector<uint8_t> bytes;
    encode_histogram_chunk(r, it.counter_reset_header(), bytes);
    EXPECT_EQ(bytes, chunk);
  }
}

TEST(HistogramEncodeChunk, ReplansPrometheusChunksUnchanged) {
  expect_replanned_unchanged<chunkenc::HistogramIterator, HistogramSample>(
      chunkenc::Encoding::kHistogram, 16);
}

TEST(HistogramEncodeChunk, ReplansPrometheusFloatHistogramChunksUnchanged) {
  expect_replanned_unchanged<chunkenc::FloatHistogramIterator, chunkenc::FloatHistogramSample>(
      chunkenc::Encoding::kFloatHistogram, 8);
}

TEST(HistogramCounterChange, WorksOnFloatHistograms) {
  chunkenc::FloatHistogramSample a;
  a.layout.positive_spans = {{0, 2}};
  a.positive = {1.5, 2.25};
  a.count = 3.75;
  auto more = a;
  more.positive = {1.5, 3}, more.count = 4.5;
  auto less = a;
  less.positive = {1.25, 9}, less.count = 10.25;
  EXPECT_EQ(counter_change(a, more), CounterChange::kNoReset);
  EXPECT_EQ(counter_change(a, less), CounterChange::kReset);
}

// Encodes `hs` as one chunk with the given header.
std::vector<uint8_t> chunk_of(const std::vector<HistogramSample>& hs, int64_t t0,
                              CounterResetHeader header) {
  chunkenc::HistogramEncoder enc(header);
  for (size_t i = 0; i < hs.size(); ++i) enc.append(t0 + int64_t(i) * 1000, hs[i]);
  auto b = enc.bytes();
  return {b.begin(), b.end()};
}

TEST(HistogramRechunker, CopiesWholeChunksOnlyWhereTheirHeaderHolds) {
  // Chunk 0 counts 10, 11, 12; chunk 1 then counts 1, 2: a reset. A chunk 1
  // saying "no reset" (as it may after a merge brought another replica's
  // samples before it) is re-encoded with the true header; one saying
  // "reset" is copied.
  std::vector<HistogramSample> hs = {hist({{1, 10}}), hist({{1, 11}}), hist({{1, 12}}),
                                     hist({{1, 1}}), hist({{1, 2}})};
  auto first = chunk_of({hs[0], hs[1], hs[2]}, 0, CounterResetHeader::kUnknown);
  for (auto claimed : {CounterResetHeader::kNotCounterReset, CounterResetHeader::kCounterReset}) {
    auto second = chunk_of({hs[3], hs[4]}, 3000, claimed);
    auto kind = uint8_t(chunkenc::Encoding::kHistogram);
    std::vector<SourceChunk> sources = {{0, 2000, kind, first, 3}, {3000, 4000, kind, second, 2}};
    SampleRun run;
    for (uint32_t i = 0; i < 5; ++i)
      run.push_back({int64_t(i) * 1000, i, i < 3 ? 0u : 1u, i < 3 ? i : i - 3});
    Rechunker rechunker;
    std::vector<ChunkData> out;
    rechunker.add(run, sources, out, {hs, {}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].data.data(), first.data());  // copied
    EXPECT_EQ(CounterResetHeader(out[1].data[2] >> 6), CounterResetHeader::kCounterReset);
    bool copied = out[1].data.data() == second.data();
    EXPECT_EQ(copied, claimed == CounterResetHeader::kCounterReset);
    EXPECT_EQ(decode_text(out[1].data), decode_text(second));
  }
}

}  // namespace
}  // namespace promblock::merge
