#include "tsdb/analyze/analyze.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::analyze {
namespace {

using testing::samples_at;
using testing::TempDir;
using testing::TestSeries;
using testing::write_block;

size_t xor_size(const std::vector<int64_t>& times) {
  chunkenc::XorEncoder e;
  for (int64_t t : times) e.append(t, double(t));
  return e.bytes().size();
}

TEST(GoDuration, MatchesGoDurationString) {
  EXPECT_EQ(go_duration(0), "0s");
  EXPECT_EQ(go_duration(500), "500ms");
  EXPECT_EQ(go_duration(1000), "1s");
  EXPECT_EQ(go_duration(1500), "1.5s");
  EXPECT_EQ(go_duration(61000), "1m1s");
  EXPECT_EQ(go_duration(7200000), "2h0m0s");
  EXPECT_EQ(go_duration(4320774), "1h12m0.774s");  // promtool on testdata/blocks/basic
  EXPECT_EQ(go_duration(6360648), "1h46m0.648s");
  EXPECT_EQ(go_duration(120010), "2m0.01s");
  EXPECT_EQ(go_duration(-1500), "-1.5s");
  EXPECT_EQ(go_duration(100 * 3600000LL), "100h0m0s");
}

TEST(Churn, UncoveredIsBlockRangeMinusChunkSpan) {
  std::vector<index::ChunkMeta> full{{0, 40, 0}, {41, 99, 0}};
  EXPECT_EQ(uncovered_ms(0, 100, full), 1u) << "maxTime is exclusive: a full series misses 1 ms";
  std::vector<index::ChunkMeta> half{{50, 99, 0}};
  EXPECT_EQ(uncovered_ms(0, 100, half), 51u);
  EXPECT_EQ(uncovered_ms(0, 100, {}), 100u);
  // A chunk beyond the block wraps around as Go's uint64 arithmetic does.
  std::vector<index::ChunkMeta> wide{{0, 200, 0}};
  EXPECT_EQ(uncovered_ms(0, 100, wide), uint64_t(0) - 100u);
}

TEST(Churn, ValueIsSumOverDurationTruncated) {
  EXPECT_EQ(churn_value(250, 0, 100), 2u);
  EXPECT_EQ(churn_value(99, 0, 100), 0u);
  EXPECT_EQ(churn_value(300, 1000, 1100), 3u);
  EXPECT_EQ(churn_value(300, 5, 5), 0u) << "zero duration";
}

TEST(Rank, HighestFirstTiesByNameThenValueLimited) {
  std::vector<Ranked> v{{"b", "1", 3}, {"a", "2", 3}, {"a", "1", 3}, {"z", "", 9}, {"c", "", 1}};
  rank(v, 4);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0], (Ranked{"z", "", 9}));
  EXPECT_EQ(v[1], (Ranked{"a", "1", 3}));
  EXPECT_EQ(v[2], (Ranked{"a", "2", 3}));
  EXPECT_EQ(v[3], (Ranked{"b", "1", 3}));
  rank(v, 0);
  EXPECT_TRUE(v.empty());
}

class AnalyzeBlock : public ::testing::Test {
 protected:
  void SetUp() override {
    // Block [0, 1000). Series:
    //   up{job="api",instance="a"}   samples 0..999 in two chunks: uncovered 1
    //   up{job="api",instance="b"}   500..999: uncovered 501
    //   up{job="db",instance="a"}    0..249: uncovered 751
    //   rpc_total{job="api"}         600..799: uncovered 801
    std::vector<int64_t> c1, c2, c3, c4, c5;
    for (int64_t t = 0; t < 500; t += 10) c1.push_back(t);
    for (int64_t t = 500; t <= 990; t += 10) c2.push_back(t);
    c2.push_back(999);
    for (int64_t t = 500; t <= 999; t += 100) c3.push_back(t);
    c3.push_back(999);
    for (int64_t t = 0; t <= 249; t += 1) c4.push_back(t);
    for (int64_t t = 600; t <= 799; t += 100) c5.push_back(t);
    c5.push_back(799);
    chunks_ = {c1, c2, c3, c4, c5};
    auto s = [](const std::vector<int64_t>& times) { return samples_at(times); };
    dir_ = write_block(tmp_.path(),
                       {{{{"__name__", "up"}, {"instance", "a"}, {"job", "api"}}, {s(c1), s(c2)}},
                        {{{"__name__", "up"}, {"instance", "b"}, {"job", "api"}}, {s(c3)}},
                        {{{"__name__", "up"}, {"instance", "a"}, {"job", "db"}}, {s(c4)}},
                        {{{"__name__", "rpc_total"}, {"job", "api"}}, {s(c5)}}},
                       0, 1000);
  }
  TempDir tmp_;
  std::string dir_;
  std::vector<std::vector<int64_t>> chunks_;
};

TEST_F(AnalyzeBlock, PromtoolNumbers) {
  BlockReader block(dir_);
  auto a = analyze_block(block, {});
  EXPECT_EQ(a.series, 4u);
  EXPECT_FALSE(a.matched);
  EXPECT_EQ(a.matched_series, 4u);
  EXPECT_EQ(a.label_names, 3u);  // __name__, instance, job
  // Pairs: __name__=up, __name__=rpc_total, instance=a, instance=b, job=api, job=db.
  EXPECT_EQ(a.postings, 6u);
  EXPECT_EQ(a.postings_entries, 3u + 3 + 3 + 2);
  // Churn per pair: sum of uncovered / 1000.
  // job=api: 1 + 501 + 801 = 1303 -> 1; __name__=up: 1 + 501 + 751 = 1253 -> 1;
  // instance=a: 752 -> 0; job=db: 751 -> 0; rpc_total: 801 -> 0; instance=b: 501 -> 0.
  ASSERT_GE(a.churn_label_pairs.size(), 2u);
  EXPECT_EQ(a.churn_label_pairs[0], (Ranked{"__name__", "up", 1}));
  EXPECT_EQ(a.churn_label_pairs[1], (Ranked{"job", "api", 1}));
  // Names: __name__ 1253 + 801 = 2054 -> 2; job 2054 -> 2; instance 1253 -> 1.
  EXPECT_EQ(a.churn_label_names,
            (std::vector<Ranked>{{"__name__", "", 2}, {"job", "", 2}, {"instance", "", 1}}));
  ASSERT_EQ(a.common_label_pairs.size(), 6u);
  EXPECT_EQ(a.common_label_pairs[0], (Ranked{"__name__", "up", 3}));
  EXPECT_EQ(a.common_label_pairs[1], (Ranked{"job", "api", 3}));
  EXPECT_EQ(a.common_label_pairs[2], (Ranked{"instance", "a", 2}));
  EXPECT_EQ(a.label_value_lengths,
            (std::vector<Ranked>{{"__name__", "", 11}, {"job", "", 5}, {"instance", "", 2}}));
  EXPECT_EQ(a.label_cardinality,
            (std::vector<Ranked>{{"__name__", "", 2}, {"instance", "", 2}, {"job", "", 2}}));
  EXPECT_EQ(a.metric_cardinality,
            (std::vector<Ranked>{{"__name__", "up", 3}, {"__name__", "rpc_total", 1}}));
}

TEST_F(AnalyzeBlock, ChunkStatsPerMetricFromHeaders) {
  BlockReader block(dir_);
  auto a = analyze_block(block, {});
  ASSERT_EQ(a.metrics.size(), 2u);
  size_t up_bytes =
      xor_size(chunks_[0]) + xor_size(chunks_[1]) + xor_size(chunks_[2]) + xor_size(chunks_[3]);
  size_t rpc_bytes = xor_size(chunks_[4]);
  EXPECT_EQ(a.metrics[0].name, "up");
  EXPECT_EQ(a.metrics[0].series, 3u);
  EXPECT_EQ(a.metrics[0].chunks, 4u);
  EXPECT_EQ(a.metrics[0].samples,
            chunks_[0].size() + chunks_[1].size() + chunks_[2].size() + chunks_[3].size());
  EXPECT_EQ(a.metrics[0].bytes, up_bytes);
  EXPECT_EQ(a.metrics[1].name, "rpc_total");
  EXPECT_EQ(a.metrics[1].samples, chunks_[4].size());
  EXPECT_EQ(a.metrics[1].bytes, rpc_bytes);
  EXPECT_DOUBLE_EQ(a.metrics[1].bytes_per_sample(), double(rpc_bytes) / chunks_[4].size());
  EXPECT_EQ(a.total.series, 4u);
  EXPECT_EQ(a.total.chunks, 5u);
  EXPECT_EQ(a.total.samples, block.meta().stats.num_samples);
  EXPECT_EQ(a.total.bytes, up_bytes + rpc_bytes);
}

TEST_F(AnalyzeBlock, MatchersRestrictEverything) {
  BlockReader block(dir_);
  AnalyzeOptions opts;
  opts.matchers = parse_selector(R"({job="api"})");
  auto a = analyze_block(block, opts);
  EXPECT_TRUE(a.matched);
  EXPECT_EQ(a.series, 4u) << "meta.json's count, as promtool prints it";
  EXPECT_EQ(a.matched_series, 3u);
  EXPECT_EQ(a.label_names, 3u);
  EXPECT_EQ(a.postings, 6u - 1);  // job=db gone
  EXPECT_EQ(a.postings_entries, 3u * 2 + 2);
  EXPECT_EQ(a.label_cardinality,
            (std::vector<Ranked>{{"__name__", "", 2}, {"instance", "", 2}, {"job", "", 1}}));
  EXPECT_EQ(a.metric_cardinality,
            (std::vector<Ranked>{{"__name__", "up", 2}, {"__name__", "rpc_total", 1}}));
  EXPECT_EQ(a.total.series, 3u);
  opts.matchers = parse_selector("rpc_total");
  a = analyze_block(block, opts);
  EXPECT_EQ(a.matched_series, 1u);
  EXPECT_EQ(a.label_names, 2u) << "instance is on no matching series";
  opts.matchers = parse_selector(R"({job="nope"})");
  a = analyze_block(block, opts);
  EXPECT_EQ(a.matched_series, 0u);
  EXPECT_EQ(a.label_names, 0u);
  EXPECT_TRUE(a.metrics.empty());
}

TEST_F(AnalyzeBlock, LimitCutsEveryList) {
  BlockReader block(dir_);
  AnalyzeOptions opts;
  opts.limit = 1;
  auto a = analyze_block(block, opts);
  EXPECT_EQ(a.postings, 6u) << "counts are not limited";
  EXPECT_EQ(a.common_label_pairs.size(), 1u);
  EXPECT_EQ(a.churn_label_names.size(), 1u);
  EXPECT_EQ(a.metrics.size(), 1u);
  EXPECT_EQ(a.total.series, 4u);
}

TEST(AnalyzeCommitted, BasicBlockMatchesPromtool) {
  // promtool tsdb analyze on testdata/blocks/basic/01M89C6ZBTJ9JFTZS68GWRD1E1.
  BlockReader block(std::string(PROMBLOCK_TESTDATA) + "/blocks/basic/01M89C6ZBTJ9JFTZS68GWRD1E1");
  auto a = analyze_block(block, {});
  EXPECT_EQ(go_duration(a.max_time - a.min_time), "1h12m0.774s");
  EXPECT_EQ(a.series, 10u);
  EXPECT_EQ(a.label_names, 16u);
  EXPECT_EQ(a.postings, 26u);
  EXPECT_EQ(a.postings_entries, 39u);
  ASSERT_FALSE(a.label_value_lengths.empty());
  EXPECT_EQ(a.label_value_lengths[0], (Ranked{"__name__", "", 86}));
}

}  // namespace
}  // namespace promblock::analyze
