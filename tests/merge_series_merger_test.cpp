#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/random_values.h"
#include "tests/test_util.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor_lanes.h"
#include "tsdb/merge/chunk_bytes.h"
#include "tsdb/merge/series_merger.h"

namespace promblock::merge {
namespace {

using testing::Samples;
using testing::samples_at;
using testing::TempDir;
using testing::write_block;

// Two replicas of one series {job="x"} in two blocks: A scrapes every 10 s
// from 0, B every 10 s from 5 s, and B alone covers 200..290 s.
class SeriesMergerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<int64_t> a, b;
    for (int64_t t = 0; t < 100000; t += 10000) a.push_back(t);
    for (int64_t t = 5000; t < 100000; t += 10000) b.push_back(t);
    std::vector<int64_t> b_late;
    for (int64_t t = 200000; t < 300000; t += 10000) b_late.push_back(t);
    Samples c;  // A's times, other values
    for (int64_t t : a) c.emplace_back(t, double(t + 1000));
    c_ = std::make_unique<BlockReader>(write_block(tmp_.path(), {{labels_, {c}}}, 0, 1000000));
    a_ = std::make_unique<BlockReader>(
        write_block(tmp_.path(), {{labels_, {samples_at(a)}}}, 0, 1000000));
    b_ = std::make_unique<BlockReader>(
        write_block(tmp_.path(), {{labels_, {samples_at(b), samples_at(b_late)}}}, 0, 1000000));
  }

  SeriesCopy copy(const BlockReader& block, uint32_t rank) {
    SeriesCopy c;
    c.block = &block;
    c.replica_rank = rank;
    Labels stored;
    block.index().series(block.index().all_postings().minimum(), stored, c.chunks);
    return c;
  }

  // The merged series' samples, decoded from the output chunks.
  Samples merge_samples(SeriesMerger& merger, std::vector<SeriesCopy> copies) {
    merger.merge(labels_, copies, out_);
    Samples samples;
    for (const auto& c : out_) {
      EXPECT_EQ(c.encoding, 1);
      chunkenc::XorIterator it(c.data);
      while (it.next()) samples.emplace_back(it.t(), it.v());
      EXPECT_TRUE(it.err().empty());
    }
    return samples;
  }
  std::vector<int64_t> merge(SeriesMerger& merger, std::vector<SeriesCopy> copies) {
    std::vector<int64_t> times;
    for (auto [t, v] : merge_samples(merger, std::move(copies))) times.push_back(t);
    return times;
  }

  Labels labels_{{"job", "x"}};
  TempDir tmp_;
  std::unique_ptr<BlockReader> a_, b_, c_;
  std::vector<ChunkData> out_;
};

TEST_F(SeriesMergerTest, ChainKeepsEverySampleOfEveryReplica) {
  SeriesMerger merger(DedupMode::kChain);
  auto times = merge(merger, {copy(*a_, 0), copy(*b_, 1)});
  EXPECT_EQ(times.size(), 30u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_EQ(times[0], 0);
  EXPECT_EQ(times[1], 5000);
  EXPECT_EQ(times.back(), 290000);
  EXPECT_EQ(merger.samples_in(), 30u);
}

TEST_F(SeriesMergerTest, ChainCopiesAChunkThatOverlapsNothing) {
  SeriesMerger merger(DedupMode::kChain);
  merge(merger, {copy(*a_, 0), copy(*b_, 1)});
  EXPECT_EQ(merger.chunks_copied(), 1u) << "B's late chunk";
  EXPECT_GE(merger.chunks_reencoded(), 1u);
  auto late = b_->chunks().chunk(copy(*b_, 1).chunks[1].ref);
  ASSERT_FALSE(out_.empty());
  EXPECT_TRUE(std::equal(late.data.begin(), late.data.end(), out_.back().data.begin(),
                         out_.back().data.end()))
      << "copied byte for byte";
}

TEST_F(SeriesMergerTest, PenaltyFollowsTheFirstReplicaAndFillsItsGap) {
  SeriesMerger merger(DedupMode::kPenalty);
  auto times = merge(merger, {copy(*a_, 0), copy(*b_, 1)});
  std::vector<int64_t> want;
  for (int64_t t = 0; t < 100000; t += 10000) want.push_back(t);       // A, none of B's between
  for (int64_t t = 200000; t < 300000; t += 10000) want.push_back(t);  // B once A has run out
  EXPECT_EQ(times, want);
}

TEST_F(SeriesMergerTest, PenaltyDedupsEachClusterApart) {
  // Two 100 s windows of two replicas, as a compaction takes them in one
  // pass: A every 10 s from 0 (none in 100..119 s), B every 10 s from 5 s.
  // Alone, the second window starts with B's 105 s; over both windows A's
  // 90 s puts B off until 111 s.
  std::vector<int64_t> a0, b0, a1, b1;
  for (int64_t t = 0; t < 100000; t += 10000) a0.push_back(t), b0.push_back(t + 5000);
  for (int64_t t = 120000; t < 200000; t += 10000) a1.push_back(t);
  for (int64_t t = 105000; t < 200000; t += 10000) b1.push_back(t);
  auto block = [&](const std::vector<int64_t>& times, int64_t min_t) {
    return std::make_unique<BlockReader>(
        write_block(tmp_.path(), {{labels_, {samples_at(times)}}}, min_t, min_t + 100000));
  };
  auto ba0 = block(a0, 0), bb0 = block(b0, 0), ba1 = block(a1, 100000), bb1 = block(b1, 100000);
  auto in_cluster = [&](const BlockReader& b, uint32_t rank, uint32_t cluster) {
    SeriesCopy c = copy(b, rank);
    c.cluster = cluster;
    return c;
  };
  SeriesMerger merger(DedupMode::kPenalty);
  auto first = merge(merger, {copy(*ba0, 0), copy(*bb0, 1)});
  auto second = merge(merger, {copy(*ba1, 0), copy(*bb1, 1)});
  ASSERT_EQ(second.front(), 105000);
  auto apart = first;
  apart.insert(apart.end(), second.begin(), second.end());
  EXPECT_EQ(merge(merger, {in_cluster(*ba0, 0, 0), in_cluster(*bb0, 1, 0), in_cluster(*ba1, 0, 1),
                           in_cluster(*bb1, 1, 1)}),
            apart);
  auto together = merge(merger, {copy(*ba0, 0), copy(*bb0, 1), copy(*ba1, 0), copy(*bb1, 1)});
  EXPECT_NE(together, apart) << "one cluster: the dedup runs on across the windows";
  // A cluster with one replica is merged as it is.
  EXPECT_EQ(merge(merger, {in_cluster(*ba0, 0, 0), in_cluster(*bb0, 1, 0), in_cluster(*ba1, 0, 1)}),
            [&] {
              auto want = first;
              want.insert(want.end(), a1.begin(), a1.end());
              return want;
            }());
}

TEST_F(SeriesMergerTest, EqualTimestampsGoToTheLowerRankNotTheFirstArgument) {
  for (auto mode : {DedupMode::kChain, DedupMode::kPenalty}) {
    SeriesMerger merger(mode);
    auto c_first = merge_samples(merger, {copy(*a_, 1), copy(*c_, 0)});
    ASSERT_EQ(c_first.size(), 10u);
    EXPECT_EQ(c_first[3], (std::pair<int64_t, double>{30000, 31000}));
    auto a_first = merge_samples(merger, {copy(*a_, 0), copy(*c_, 1)});
    ASSERT_EQ(a_first.size(), 10u);
    EXPECT_EQ(a_first[3], (std::pair<int64_t, double>{30000, 30000}));
  }
}

TEST_F(SeriesMergerTest, NoneMergesCopiesOfOneReplicaLikeChain) {
  SeriesMerger merger(DedupMode::kNone);
  auto times = merge(merger, {copy(*a_, 0), copy(*b_, 0)});
  EXPECT_EQ(times.size(), 30u);
}

TEST_F(SeriesMergerTest, TombstonedSamplesAreDropped) {
  SeriesMerger merger(DedupMode::kChain);
  std::vector<Interval> deleted{{0, 45000}};
  auto a = copy(*a_, 0);
  a.deleted = &deleted;
  auto times = merge(merger, {a});
  EXPECT_EQ(times, (std::vector<int64_t>{50000, 60000, 70000, 80000, 90000}));
}

// Unread copies (linked blocks) whose chunks follow one another go through
// as they lie, in time order, none read; wherever the merge would have to
// decode (overlap, several replicas in one penalty cluster) or reorder, it
// reads and does.
TEST_F(SeriesMergerTest, UnreadCopiesPassThroughOnlyWhereTheMergeWouldCopyThem) {
  std::vector<int64_t> late_times;
  for (int64_t t = 200000; t < 300000; t += 10000) late_times.push_back(t);
  BlockReader late(write_block(tmp_.path(), {{labels_, {samples_at(late_times)}}}, 0, 1000000));
  auto unread = [&](const BlockReader& block, uint32_t rank, uint32_t cluster) {
    SeriesCopy c = copy(block, rank);
    c.unread = true;
    c.cluster = cluster;
    return c;
  };
  auto refs = [&] {
    std::vector<uint64_t> r;
    for (const auto& c : out_) r.push_back(c.origin_ref);
    return r;
  };
  const uint64_t first = copy(*a_, 0).chunks[0].ref, second = copy(late, 0).chunks[0].ref;

  for (auto mode : {DedupMode::kChain, DedupMode::kPenalty}) {
    SeriesMerger merger(mode);
    merger.merge(labels_, std::vector{unread(*a_, 0, 0), unread(late, 0, 1)}, out_);
    EXPECT_EQ(refs(), (std::vector<uint64_t>{first, second}));
    EXPECT_TRUE(out_[0].unread && out_[1].unread);
    EXPECT_EQ(out_[0].origin, &a_->chunks());
    EXPECT_EQ(out_[1].min_time, 200000);
    EXPECT_EQ(merger.chunks_unread(), 2u);
    EXPECT_EQ(merger.samples_in(), 0u) << "nothing read";

    // The same taken in place: counted, nothing built; out of time order,
    // or overlapping, not taken (the merge sorts and decodes those).
    merger.reset();
    EXPECT_TRUE(merger.take_in_place(std::vector{unread(*a_, 0, 0), unread(late, 0, 1)}));
    EXPECT_EQ(merger.chunks_unread(), 2u);
    EXPECT_EQ(merger.chunks_copied(), 2u);
    EXPECT_FALSE(merger.take_in_place(std::vector{unread(late, 0, 1), unread(*a_, 0, 0)}));
    EXPECT_FALSE(merger.take_in_place(std::vector{unread(*a_, 0, 0), unread(*b_, 1, 0)}));
    EXPECT_FALSE(merger.take_in_place(std::vector{copy(*a_, 0), unread(late, 0, 1)}))
        << "a copy to read";
    EXPECT_EQ(merger.chunks_unread(), 2u);

    // Given later block first: still in time order.
    merger.reset();
    merger.merge(labels_, std::vector{unread(late, 0, 1), unread(*a_, 0, 0)}, out_);
    EXPECT_EQ(refs(), (std::vector<uint64_t>{first, second}));
    EXPECT_EQ(merger.samples_in(), 0u);

    // Overlapping replicas: read and merged (chain leaves B's late chunk,
    // which overlaps nothing, unread; penalty follows one replica through).
    merger.reset();
    merger.merge(labels_, std::vector{unread(*a_, 0, 0), unread(*b_, 1, 0)}, out_);
    EXPECT_EQ(merger.samples_in(), mode == DedupMode::kChain ? 20u : 30u);
    EXPECT_EQ(merger.chunks_unread(), mode == DedupMode::kChain ? 1u : 0u);
  }

  // Two replicas in one penalty cluster, not overlapping: penalty decodes
  // (it follows one replica across the cluster); chain still passes through.
  SeriesMerger penalty(DedupMode::kPenalty), chain(DedupMode::kChain);
  penalty.merge(labels_, std::vector{unread(*a_, 0, 0), unread(late, 1, 0)}, out_);
  EXPECT_EQ(penalty.samples_in(), 20u);
  chain.merge(labels_, std::vector{unread(*a_, 0, 0), unread(late, 1, 0)}, out_);
  EXPECT_EQ(chain.samples_in(), 0u);
  EXPECT_EQ(refs(), (std::vector<uint64_t>{first, second}));
}

struct ByLabels {
  bool operator()(const Labels& a, const Labels& b) const { return labels_less(a, b); }
};
using CopiesBySeries = std::map<Labels, std::vector<SeriesCopy>, ByLabels>;

// Every series' copies in the blocks, in the order of their labels: rank r
// in blocks[r].
CopiesBySeries copies_by_series(const std::vector<const BlockReader*>& blocks) {
  CopiesBySeries out;
  for (uint32_t r = 0; r < blocks.size(); ++r)
    for (uint32_t ref : blocks[r]->index().all_postings()) {
      SeriesCopy c;
      c.block = blocks[r];
      c.replica_rank = r;
      Labels labels;
      blocks[r]->index().series(ref, labels, c.chunks);
      out[labels].push_back(std::move(c));
    }
  return out;
}

// Merges every series as the block merger does, with read_ahead (the
// lanes) or without; the chunks of each series.
std::vector<std::vector<ChunkData>> merge_all(SeriesMerger& merger, const CopiesBySeries& all,
                                              bool read_ahead) {
  std::vector<const Labels*> labels;
  std::vector<std::span<const SeriesCopy>> copies;
  for (const auto& [l, c] : all) labels.push_back(&l), copies.push_back(c);
  std::vector<std::vector<ChunkData>> out(copies.size());
  for (size_t j = 0; j < copies.size();) {
    size_t end = j + 1;
    if (read_ahead) {
      const size_t n = std::min<size_t>(16, copies.size() - j);
      end = j + merger.read_ahead(std::span(copies).subspan(j, n));
      EXPECT_GT(end, j);
    }
    for (; j < end; ++j) merger.merge_keeping(*labels[j], copies[j], out[j]);
  }
  return out;
}

// Each series' chunks the same: times, bytes and, for copies, origin.
void expect_same_chunks(const std::vector<std::vector<ChunkData>>& got,
                        const std::vector<std::vector<ChunkData>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) {
    ASSERT_EQ(got[j].size(), want[j].size()) << "series " << j;
    for (size_t c = 0; c < want[j].size(); ++c) {
      EXPECT_EQ(got[j][c].min_time, want[j][c].min_time);
      EXPECT_EQ(got[j][c].max_time, want[j][c].max_time);
      EXPECT_EQ(got[j][c].origin_ref, want[j][c].origin_ref);
      ASSERT_TRUE(std::equal(got[j][c].data.begin(), got[j][c].data.end(), want[j][c].data.begin(),
                             want[j][c].data.end()))
          << "series " << j << " chunk " << c;
    }
  }
}

TEST_F(SeriesMergerTest, ReadAheadMergesAsWithout) {
  // 80 series of two replicas: chunks of 1 to 250 samples, B's scrapes
  // offset from A's; by series, overlapping all along, with a gap in A,
  // one after the other (nothing to decode), or in A alone.
  std::mt19937_64 rng(7);
  std::vector<testing::TestSeries> a, b;
  auto chunks = [&](int64_t from, int64_t to) {
    std::vector<Samples> out(1);
    size_t length = 1 + rng() % 250;
    double v = 0;
    for (int64_t t = from; t < to; t += 15000 + int64_t(rng() % 50)) {
      v = testing::random_value_step(rng, v);
      if (out.back().size() == length) out.emplace_back(), length = 1 + rng() % 250;
      out.back().emplace_back(t, v);
    }
    return out;
  };
  const int64_t kEnd = 7200000;
  for (int i = 0; i < 80; ++i) {
    Labels l{{"job", "x"}, {"n", testing::numbered("s", i)}};
    switch (i % 4) {
      case 0:
        a.push_back({l, chunks(0, kEnd)}), b.push_back({l, chunks(7000, kEnd)});
        break;
      case 1: {
        auto first = chunks(0, 2000000), second = chunks(3000000, kEnd);
        first.insert(first.end(), second.begin(), second.end());
        a.push_back({l, first}), b.push_back({l, chunks(7000, kEnd)});
        break;
      }
      case 2:
        a.push_back({l, chunks(0, 3000000)}), b.push_back({l, chunks(3600000, kEnd)});
        break;
      default:
        a.push_back({l, chunks(0, kEnd)});
    }
  }
  BlockReader block_a(write_block(tmp_.path(), a, 0, kEnd));
  BlockReader block_b(write_block(tmp_.path(), b, 0, kEnd));
  const auto all = copies_by_series({&block_a, &block_b});
  ASSERT_EQ(all.size(), 80u);

  for (auto mode : {DedupMode::kChain, DedupMode::kPenalty, DedupMode::kNone}) {
    SCOPED_TRACE(int(mode));
    SeriesMerger plain(mode), ahead(mode);
    const auto want = merge_all(plain, all, false);
    const auto got = merge_all(ahead, all, true);
    expect_same_chunks(got, want);
    EXPECT_EQ(ahead.samples_in(), plain.samples_in());
    EXPECT_EQ(ahead.chunks_copied(), plain.chunks_copied());
    EXPECT_EQ(ahead.chunks_reencoded(), plain.chunks_reencoded());
    EXPECT_EQ(plain.chunks_decoded_ahead(), 0u);
    if (chunkenc::xor_lanes_supported()) {
      EXPECT_GT(ahead.chunks_decoded_ahead(), 100u);
    }
  }
}

// Where every source of a region is an XOR chunk without tombstones,
// chain merges plain float samples and finds the whole chunks from their
// times: the same chunks as the tagged samples give, which a tombstone
// outside every series' samples brings back. Three replicas switch, by
// stretches, between scraping on a shared grid (equal timestamps and
// values: the lower rank wins), on their own phase and not at all; chunks
// of 1-150.
TEST_F(SeriesMergerTest, PlainFloatChainFindsTheWholeChunksTagsWould) {
  std::mt19937_64 rng(11);
  const int64_t kEnd = 7200000;
  std::vector<std::vector<testing::TestSeries>> replicas(3);
  for (int i = 0; i < 60; ++i) {
    Labels l{{"job", "x"}, {"n", testing::numbered("s", i)}};
    for (uint32_t r = 0; r < 3; ++r) {
      std::vector<Samples> chunks(1);
      size_t length = 1 + rng() % 150;
      double v = double(r);
      int mode = 0;
      int64_t stretch_end = 0;
      for (int64_t t = 0; t < kEnd; t += 1000) {
        if (t >= stretch_end)
          mode = int(rng() % 3), stretch_end = t + 200000 + int64_t(rng() % 1300000);
        const bool scrape = mode == 1 ? t % 15000 == 0 : mode == 2 && t % 15000 == 3000 * (r + 1);
        if (!scrape) continue;
        // On the shared grid every replica sees the same value, as HA
        // replicas scraping one target at one instant would: a tie then
        // leaves the same bytes whichever replica wins it.
        v = mode == 1 ? double(t / 15000 % 5) : testing::random_value_step(rng, v);
        if (chunks.back().size() == length) chunks.emplace_back(), length = 1 + rng() % 150;
        chunks.back().emplace_back(t, v);
      }
      if (chunks.back().empty()) chunks.pop_back();
      if (!chunks.empty()) replicas[r].push_back({l, chunks});
    }
  }
  std::vector<std::unique_ptr<BlockReader>> blocks;
  std::vector<const BlockReader*> readers;
  for (auto& series : replicas) {
    blocks.push_back(std::make_unique<BlockReader>(write_block(tmp_.path(), series, 0, kEnd)));
    readers.push_back(blocks.back().get());
  }
  const auto plain = copies_by_series(readers);
  // Chunks that overlap no other of their series: copied without a merge.
  uint64_t alone = 0;
  for (const auto& [l, copies] : plain) {
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (const auto& c : copies)
      for (const auto& m : c.chunks) ranges.emplace_back(m.min_time, m.max_time);
    std::sort(ranges.begin(), ranges.end());
    int64_t reach = std::numeric_limits<int64_t>::min();
    for (size_t k = 0; k < ranges.size(); ++k) {
      const bool after_all = ranges[k].first > reach;
      reach = std::max(reach, ranges[k].second);
      alone += after_all && (k + 1 == ranges.size() || ranges[k + 1].first > ranges[k].second);
    }
  }
  auto tagged = plain;
  const std::vector<Interval> elsewhere{{kEnd * 10, kEnd * 10 + 1}};
  for (auto& [l, copies] : tagged)
    for (auto& c : copies) c.deleted = &elsewhere;

  for (bool read_ahead : {false, true}) {
    SCOPED_TRACE(read_ahead);
    SeriesMerger by_plain(DedupMode::kChain), by_tags(DedupMode::kChain);
    const auto got = merge_all(by_plain, plain, read_ahead);
    const auto want = merge_all(by_tags, tagged, read_ahead);
    expect_same_chunks(got, want);
    EXPECT_EQ(by_plain.chunks_copied(), by_tags.chunks_copied());
    EXPECT_EQ(by_plain.chunks_reencoded(), by_tags.chunks_reencoded());
    // Both kinds of chunk, and chunks copied whole out of merged regions,
    // not only those that overlap nothing.
    EXPECT_GT(by_plain.chunks_reencoded(), 300u);
    EXPECT_GT(by_plain.chunks_copied(), alone + 20);
  }
}

TEST_F(SeriesMergerTest, ALongSeriesIsDecodedRegionByRegion) {
  // 2 x 12 000 samples: more than read_ahead decodes at once. A's values
  // are their times, B's their times plus one.
  std::vector<Samples> a, b;
  for (int64_t t = 0; t < 120000000; t += 10000) {
    if (t % 1200000 == 0) a.emplace_back(), b.emplace_back();
    a.back().emplace_back(t, double(t));
    b.back().emplace_back(t + 5000, double(t + 5001));
  }
  BlockReader block_a(write_block(tmp_.path(), {{labels_, a}}, 0, 130000000));
  BlockReader block_b(write_block(tmp_.path(), {{labels_, b}}, 0, 130000000));
  const auto all = copies_by_series({&block_a, &block_b});
  SeriesMerger merger(DedupMode::kChain);
  const auto out = merge_all(merger, all, true);
  ASSERT_EQ(out.size(), 1u);
  int64_t want_t = 0;
  for (const auto& c : out[0]) {
    chunkenc::XorIterator it(c.data);
    for (; it.next(); want_t += 5000) {
      ASSERT_EQ(it.t(), want_t);
      ASSERT_EQ(it.v(), double(want_t + (want_t % 10000 ? 1 : 0)));
    }
    ASSERT_TRUE(it.err().empty());
  }
  EXPECT_EQ(want_t, 120000000);
  EXPECT_EQ(merger.chunks_decoded_ahead(), 0u);
  if (chunkenc::xor_lanes_supported()) {
    EXPECT_EQ(merger.chunks_decoded_by_region(), 200u);
  }
}

// A merge's batches keep their re-encoded chunks in a store of their own
// while the merger goes on to the next batch (block_merger.cpp).
TEST_F(SeriesMergerTest, ReencodedChunksStayInTheStoreGivenWhenTheMergerMovesOn) {
  SeriesMerger merger(DedupMode::kChain);
  ChunkBytes first, second;
  merger.store_chunks_in(&first);
  std::vector<ChunkData> out;
  const std::vector<SeriesCopy> ab{copy(*a_, 0), copy(*b_, 1)};
  merger.merge_keeping(labels_, ab, out);
  const uint64_t reencoded = merger.chunks_reencoded();
  ASSERT_GT(reencoded, 0u);
  std::vector<std::vector<uint8_t>> saved;
  for (const auto& c : out) saved.emplace_back(c.data.begin(), c.data.end());

  merger.store_chunks_in(&second);
  merger.reset();  // clears `second`, not `first`
  std::vector<ChunkData> other;
  const std::vector<SeriesCopy> cb{copy(*c_, 0), copy(*b_, 1)};
  merger.merge_keeping(labels_, cb, other);
  ASSERT_GT(merger.chunks_reencoded(), 0u);
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_TRUE(
        std::equal(out[i].data.begin(), out[i].data.end(), saved[i].begin(), saved[i].end()))
        << i;

  // And they were in `first`: overwriting it changes them.
  first.clear();
  constexpr size_t kAll = 64 * 1024;
  std::memset(first.reserve(kAll), 0xff, kAll);
  first.take(kAll);
  size_t overwritten = 0;
  for (const auto& c : out)
    overwritten += std::all_of(c.data.begin(), c.data.end(), [](uint8_t b) { return b == 0xff; });
  EXPECT_EQ(overwritten, reencoded);
}

TEST_F(SeriesMergerTest, ReadAheadReportsAMalformedChunkAsWithout) {
  // A's chunk says 10 samples and holds 9 (its CRC is right); B overlaps it.
  std::vector<int64_t> times;
  for (int64_t t = 0; t < 100000; t += 10000) times.push_back(t);
  chunkenc::XorEncoder e;
  for (int64_t t : times) e.append(t, 1.0);
  std::vector<uint8_t> bytes(e.bytes().begin(), e.bytes().end() - 2);
  BlockMeta meta;
  meta.max_time = 1000000;
  BlockWriter w(tmp_.path(), meta);
  for (const auto& l : labels_) w.add_symbol(l.name), w.add_symbol(l.value);
  w.add_series(labels_, std::vector<ChunkData>{{0, 90000, 1, bytes, 10, {}}});
  BlockReader bad(w.commit());
  const auto all = copies_by_series({&bad, b_.get()});
  std::string errors[2];
  for (bool read_ahead : {false, true}) {
    SeriesMerger merger(DedupMode::kChain);
    try {
      merge_all(merger, all, read_ahead);
    } catch (const Error& err) {
      errors[read_ahead] = err.what();
    }
  }
  EXPECT_NE(errors[0].find("of series {job=\"x\"}"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[1], errors[0]);
}

}  // namespace
}  // namespace promblock::merge
