#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tsdb/chunkenc/xor2.h"
#include "tsdb/chunkenc/xor_lanes.h"
#include "tsdb/merge/dedup.h"
#include "tsdb/merge/rechunk.h"

namespace promblock::merge {
namespace {

SampleRun run(std::initializer_list<int64_t> times, uint32_t chunk = 0, uint64_t value = 0) {
  SampleRun r;
  uint32_t pos = 0;
  for (int64_t t : times) r.push_back({t, value, chunk, pos++});
  return r;
}

std::vector<int64_t> times(const SampleRun& r) {
  std::vector<int64_t> out;
  for (const auto& s : r) out.push_back(s.t);
  return out;
}

TEST(ChainMerge, UnionOneSamplePerTimestampFirstRunWins) {
  std::vector<SampleRun> runs{run({1, 3, 5}, 0, 10), run({2, 3, 6}, 1, 20)};
  SampleRun out = chain_merge(runs);
  EXPECT_EQ(times(out), (std::vector<int64_t>{1, 2, 3, 5, 6}));
  EXPECT_EQ(out[2].v_bits, 10u) << "equal timestamps: the run listed first wins";
}

// Appending leaves what `out` held and adds what chain_merge would give,
// for one, two and three runs.
TEST(ChainMerge, AppendKeepsWhatWasThereAndAddsTheMerge) {
  std::vector<std::vector<SampleRun>> cases{
      {run({4, 8}, 0, 1)},
      {run({1, 3, 5}, 0, 10), run({2, 3, 6}, 1, 20)},
      {run({1, 4}, 0, 1), run({2, 4, 9}, 1, 2), run({3, 4, 9, 10}, 2, 3)}};
  for (const auto& runs : cases) {
    SampleRun out = run({-5, -3}, 7, 77);
    chain_merge_append(runs, out);
    SampleRun want = chain_merge(runs);
    ASSERT_EQ(out.size(), 2 + want.size());
    EXPECT_EQ(out[0].t, -5);
    EXPECT_EQ(out[1].v_bits, 77u);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(out[2 + i].t, want[i].t);
      EXPECT_EQ(out[2 + i].v_bits, want[i].v_bits);
      EXPECT_EQ(out[2 + i].chunk, want[i].chunk);
    }
  }
}

// A pair of runs, whatever they hold (interleaved, one before the other,
// many timestamps in common, either listed first), merges as one sample
// at a time would, after what the output held.
TEST(ChainMerge, PairsMergeAsOneSampleAtATime) {
  auto reference = [](const SampleRun& a, const SampleRun& b) {
    SampleRun out;
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
      if (j == b.size() || (i < a.size() && a[i].t <= b[j].t)) {
        if (j < b.size() && b[j].t == a[i].t) ++j;
        out.push_back(a[i++]);
      } else {
        out.push_back(b[j++]);
      }
    }
    return out;
  };
  std::mt19937_64 rng(7);
  auto make = [&](size_t n, int64_t from, int64_t step, uint32_t chunk) {
    SampleRun r;
    int64_t t = from;
    for (uint32_t k = 0; k < n; ++k, t += 1 + int64_t(rng() % uint64_t(step)))
      r.push_back({t, rng(), chunk, k});
    return r;
  };
  size_t with_duplicates = 0;
  for (int round = 0; round < 400; ++round) {
    const size_t na = rng() % 300, nb = rng() % 300;
    const int64_t step = 1 + int64_t(rng() % 4);  // small steps: many equal timestamps
    const int64_t offset = round % 5 == 0 ? int64_t(na) * 5 : int64_t(rng() % 8);
    SampleRun a = make(na, 0, step, 0), b = make(nb, offset, step, 1);
    SampleRun want = reference(a, b);
    with_duplicates += want.size() < na + nb;
    for (const auto& [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      SampleRun out = run({-9}, 5, 55);
      std::vector<SampleRun> runs{*x, *y};
      chain_merge_append(runs, out);
      SampleRun expect = reference(*x, *y);
      ASSERT_EQ(out.size(), 1 + expect.size()) << "round " << round;
      EXPECT_EQ(out[0].v_bits, 55u);
      for (size_t k = 0; k < expect.size(); ++k) {
        ASSERT_EQ(out[1 + k].t, expect[k].t) << "round " << round << " sample " << k;
        ASSERT_EQ(out[1 + k].v_bits, expect[k].v_bits) << "round " << round << " sample " << k;
        ASSERT_EQ(out[1 + k].chunk, expect[k].chunk) << "round " << round << " sample " << k;
        ASSERT_EQ(out[1 + k].position, expect[k].position) << "round " << round;
      }
      // Plain float samples, the same pair: the same times and values.
      std::vector<FloatRun> plain_runs(2);
      for (size_t r = 0; r < 2; ++r)
        for (const TaggedSample& t : runs[r]) plain_runs[r].push_back({t.t, t.v_bits});
      FloatRun plain{{-9, 55}};
      chain_merge_append(plain_runs, plain);
      ASSERT_EQ(plain.size(), out.size()) << "round " << round;
      for (size_t k = 0; k < out.size(); ++k) {
        ASSERT_EQ(plain[k].t, out[k].t) << "round " << round << " sample " << k;
        ASSERT_EQ(plain[k].v_bits, out[k].v_bits) << "round " << round << " sample " << k;
      }
    }
  }
  EXPECT_GT(with_duplicates, 100u) << "the rounds should share timestamps";
}

TEST(ChainMerge, PlainRunsOfThreeMergeAsTaggedOnes) {
  std::vector<SampleRun> runs{run({1, 4}, 0, 1), run({2, 4, 9}, 1, 2), run({3, 4, 9, 10}, 2, 3)};
  std::vector<FloatRun> plain(runs.size());
  for (size_t r = 0; r < runs.size(); ++r)
    for (const TaggedSample& t : runs[r]) plain[r].push_back({t.t, t.v_bits});
  FloatRun out;
  chain_merge_append(plain, out);
  const SampleRun want = chain_merge(runs);
  ASSERT_EQ(out.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(out[k].t, want[k].t);
    EXPECT_EQ(out[k].v_bits, want[k].v_bits);
  }
}

TEST(PenaltyMerge, FollowsFirstReplicaWhileItHasData) {
  // a scrapes at 0,15,30,...; b at 7,22,... : once a is followed, b's
  // samples fall inside the penalty window and are skipped.
  SampleRun a = run({0, 15000, 30000, 45000, 60000}, 0);
  SampleRun b = run({7000, 22000, 37000, 52000, 67000}, 1);
  SampleRun out = penalty_merge(a, b);
  // 0 (a) -> b penalized 5000: b's 7000 >= 5001 and earlier than a's 15000:
  // taken; then a penalized 2*7000: skips 15000 (< 21001) -> b followed.
  EXPECT_EQ(times(out), (std::vector<int64_t>{0, 7000, 22000, 37000, 52000, 67000}));
}

TEST(PenaltyMerge, SwitchesOnGapAndNeverSamplesFasterThanReplica) {
  SampleRun a = run({0, 10000, 20000, 30000, 80000, 90000}, 0);  // gap 30s..80s
  SampleRun b = run({12000, 22000, 32000, 42000, 52000, 62000, 72000, 82000}, 1);
  SampleRun out = penalty_merge(a, b);
  auto t = times(out);
  ASSERT_FALSE(t.empty());
  for (size_t i = 1; i < t.size(); ++i) EXPECT_GE(t[i] - t[i - 1], 8000) << "at " << t[i];
  // The gap in a is filled by b.
  EXPECT_NE(std::find(t.begin(), t.end(), 52000), t.end());
}

TEST(PenaltyMerge, ExhaustedReplicaLetsTheOtherContinue) {
  SampleRun a = run({0, 10000}, 0);
  SampleRun b = run({30000, 40000, 50000}, 1);
  // As in Thanos, b is advanced past its pending penalty (10000 + 1 +
  // 2 * 10000) before a is found exhausted; its penalty is dropped after.
  EXPECT_EQ(times(penalty_merge(a, b)), (std::vector<int64_t>{0, 10000, 40000, 50000}));
  EXPECT_EQ(times(penalty_merge(a, SampleRun{})), (std::vector<int64_t>{0, 10000}));
  EXPECT_EQ(times(penalty_merge(SampleRun{}, b)), (std::vector<int64_t>{30000, 40000, 50000}));
}

TEST(PenaltyMerge, TiesGoToTheFirstReplica) {
  SampleRun a = run({1000, 2000}, 0, 1);
  SampleRun b = run({1000, 2000}, 1, 2);
  SampleRun out = penalty_merge(a, b);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].v_bits, 1u);
  EXPECT_EQ(out[1].v_bits, 1u);
}

TEST(PenaltyMerge, FoldsThreeReplicasPairwise) {
  // Inner (r1 ⊕ r2): r2 waits 2 × 20000 after 40000, so 100000 is taken.
  // Outer: r3 waits 2 × (100000 − 40000) after 100000, so 300000 is taken
  // but 200000 would not be.
  std::vector<SampleRun> r{run({0, 20000, 40000}, 0), run({100000}, 1), run({300000}, 2)};
  EXPECT_EQ(times(penalty_merge_all(r)), (std::vector<int64_t>{0, 20000, 40000, 100000, 300000}));
  std::vector<SampleRun> r2{run({0, 20000, 40000}, 0), run({100000}, 1), run({200000}, 2)};
  EXPECT_EQ(times(penalty_merge_all(r2)), (std::vector<int64_t>{0, 20000, 40000, 100000}));
}

// penalty_merge_all skips copying the part of the fold before each further
// replica; the result must be the plain pairwise fold's, sample for sample
// (chunk and position included), whether replicas overlap, follow one
// another, leave gaps, tie, are empty, (a damaged chunk) out of order or
// spread over all of int64.
TEST(PenaltyMerge, FoldEqualsThePlainPairwiseFold) {
  std::mt19937_64 rng(21);
  for (int round = 0; round < 3000; ++round) {
    std::vector<SampleRun> replicas(2 + rng() % 7);
    int64_t start = int64_t(rng() % 100000);
    for (uint32_t r = 0; r < replicas.size(); ++r) {
      const bool in_sequence = round % 3 == 0;  // each replica after the one before
      int64_t t = in_sequence ? start + int64_t(r) * 400000 - int64_t(rng() % 60000)
                              : start + int64_t(rng() % 200000);
      const int64_t step = 1000 * int64_t(1 + rng() % 30);
      size_t n = rng() % 5 == 0 ? 0 : rng() % 60;
      for (uint32_t k = 0; k < n; ++k) {
        switch (rng() % 10) {
          case 0:
            t += step * int64_t(2 + rng() % 20);  // a gap
            break;
          case 1:
            t += int64_t(rng() % 3);  // nearly a tie with another replica
            break;
          default:
            t += step + int64_t(rng() % 2000) - 1000;
        }
        replicas[r].push_back({t, uint64_t(r), r, k});
      }
      if (round % 50 == 7 && n > 2) std::swap(replicas[r][0], replicas[r][n - 1]);  // out of order
      if (round % 10 == 4) {
        // Timestamps anywhere in int64: penalties wrap, as Go's do.
        for (auto& x : replicas[r]) x.t = int64_t(rng());
        std::sort(replicas[r].begin(), replicas[r].end(),
                  [](const TaggedSample& x, const TaggedSample& y) { return x.t < y.t; });
        for (uint32_t k = 0; k < replicas[r].size(); ++k) replicas[r][k].position = k;
      }
    }
    SampleRun expected = replicas[0], tmp;
    for (size_t i = 1; i < replicas.size(); ++i) {
      penalty_merge(expected, replicas[i], tmp);
      std::swap(expected, tmp);
    }
    SampleRun got = penalty_merge_all(replicas);
    ASSERT_EQ(got.size(), expected.size()) << "round " << round;
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].t, expected[k].t) << "round " << round << " sample " << k;
      ASSERT_EQ(got[k].chunk, expected[k].chunk) << "round " << round << " sample " << k;
      ASSERT_EQ(got[k].position, expected[k].position) << "round " << round << " sample " << k;
    }
  }
}

// A spacing of 2^62 ms makes the penalty wrap (as in Go): the replica not
// taken may then tie the last sample, and the fold is no longer strictly
// increasing. Folding a third replica in must still equal the plain fold.
TEST(PenaltyMerge, FoldAfterAWrappedPenaltyEqualsThePlainFold) {
  const int64_t x = int64_t(1) << 62;
  std::vector<SampleRun> r{run({0, x}, 0), run({x, x + 15000, x + 30000}, 1),
                           run({x + 20000, x + 45000}, 2)};
  SampleRun plain, tmp;
  penalty_merge(r[0], r[1], tmp);
  ASSERT_EQ(times(tmp), (std::vector<int64_t>{0, x, x, x + 15000, x + 30000}))
      << "the wrapped penalty lets the tie through";
  penalty_merge(tmp, r[2], plain);
  SampleRun got = penalty_merge_all(r);
  EXPECT_EQ(times(got), times(plain));
}

TEST(Rechunker, CopiesWholeChunksAndReencodesTheRest) {
  // Source chunk 0 has 3 samples and survives whole; chunk 1 loses one.
  std::vector<SourceChunk> sources(2);
  std::vector<uint8_t> fake0{0, 3, 0xAA}, fake1{0, 2, 0xBB};
  sources[0] = {1, 3, 1, fake0, 3};
  sources[1] = {4, 5, 1, fake1, 2};
  SampleRun merged = run({1, 2, 3}, 0);
  merged.push_back({5, 0, 1, 1});  // only the second sample of chunk 1
  Rechunker r;
  std::vector<ChunkData> out;
  r.add(merged, sources, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].data.data(), fake0.data()) << "whole chunk copied as bytes";
  EXPECT_EQ(out[1].num_samples, 1u);
  EXPECT_EQ(out[1].min_time, 5);
  EXPECT_EQ(r.chunks_copied(), 1u);
  EXPECT_EQ(r.chunks_reencoded(), 1u);
}

TEST(Rechunker, CutsReencodedChunksAt120Samples) {
  SampleRun merged;
  for (uint32_t i = 0; i < 250; ++i) merged.push_back({int64_t(i) * 1000, 0, 0, i + 1});
  std::vector<SourceChunk> sources(1);
  sources[0].num_samples = 1000;  // never whole
  Rechunker r;
  std::vector<ChunkData> out;
  r.add(merged, sources, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].num_samples, 120u);
  EXPECT_EQ(out[1].num_samples, 120u);
  EXPECT_EQ(out[2].num_samples, 10u);
  EXPECT_EQ(out[2].max_time, 249000);
}

// Within a series (begin_series .. end_series) XOR chunks wait for a full
// set of lanes; those still waiting when add() returns are copied out of
// its run, which the caller reuses for the next region. Here the run is
// overwritten after every add(): the chunks must hold what it held then.
TEST(Rechunker, ChunksWaitingForLanesOutliveTheRunTheyCameFrom) {
  std::vector<SourceChunk> sources(1);
  sources[0].num_samples = 1000;  // never whole
  auto region = [](int64_t first, uint32_t n, SampleRun& r) {
    r.clear();
    for (uint32_t i = 0; i < n; ++i)
      r.push_back({first + int64_t(i) * 15000 + (i % 7) * 13, uint64_t(first) + i * 977, 0, i + 1});
  };
  // Regions of 3, 3, 2 and 5 chunks (360, 350, 240, 600 samples).
  const std::vector<std::pair<int64_t, uint32_t>> regions{
      {0, 360}, {10'000'000, 350}, {20'000'000, 240}, {30'000'000, 600}};
  Rechunker held, direct;
  std::vector<ChunkData> out_held, out_direct;
  std::vector<std::pair<int64_t, uint64_t>> want;
  SampleRun run;
  held.begin_series();
  for (auto [first, n] : regions) {
    region(first, n, run);
    for (const auto& x : run) want.push_back({x.t, x.v_bits});
    held.add(run, sources, out_held);
    direct.add(run, sources, out_direct);
    region(-1'000'000, n, run);  // the caller's next use of its scratch run
  }
  held.end_series();
  ASSERT_EQ(out_held.size(), 13u);
  ASSERT_EQ(out_direct.size(), 13u);
  std::vector<std::pair<int64_t, uint64_t>> got;
  for (size_t i = 0; i < out_held.size(); ++i) {
    EXPECT_EQ(std::vector<uint8_t>(out_held[i].data.begin(), out_held[i].data.end()),
              std::vector<uint8_t>(out_direct[i].data.begin(), out_direct[i].data.end()))
        << "chunk " << i;
    chunkenc::XorIterator it(out_held[i].data);
    while (it.next()) got.push_back({it.t(), it.v_bits()});
    EXPECT_EQ(it.err(), "");
  }
  EXPECT_EQ(got, want);
}

// add_kept() leaves the chunks waiting for lanes where its samples lie:
// they are read there when the lanes fill or the series ends, unless
// hold_waiting_chunks() copied them first. Kept samples changed after a
// hold must not show; changed without one, they do (proof that the chunks
// read them in place, not a copy).
TEST(Rechunker, KeptSamplesAreReadInPlaceUntilHeld) {
  if (!chunkenc::xor_lanes_supported()) GTEST_SKIP() << "no lanes: add_kept encodes at once";
  std::vector<SourceChunk> sources(1);
  sources[0].num_samples = 1000;  // never whole
  auto fill = [](SampleRun& r, size_t n, int64_t first) {
    r.clear();
    for (uint32_t i = 0; i < n; ++i)
      r.push_back({first + int64_t(i) * 15000, uint64_t(7 * i + 1), 0, i + 1});
  };
  auto samples_of = [](const std::vector<ChunkData>& out) {
    std::vector<int64_t> ts;
    for (const auto& c : out) {
      chunkenc::XorIterator it(c.data);
      while (it.next()) ts.push_back(it.t());
      EXPECT_EQ(it.err(), "");
    }
    return ts;
  };
  SampleRun kept;
  fill(kept, 240, 0);  // two chunks: they wait for six more
  std::vector<int64_t> want;
  for (const auto& x : kept) want.push_back(x.t);
  for (bool hold : {true, false}) {
    Rechunker r;
    std::vector<ChunkData> out;
    r.begin_series();
    fill(kept, 240, 0);
    r.add_kept(kept, sources, out);
    EXPECT_TRUE(r.reads_kept_samples());
    if (hold) r.hold_waiting_chunks();
    EXPECT_EQ(r.reads_kept_samples(), !hold);
    fill(kept, 240, 1'000'000);  // the samples change where they lay
    r.end_series();
    EXPECT_FALSE(r.reads_kept_samples());
    ASSERT_EQ(out.size(), 2u);
    std::vector<int64_t> got = samples_of(out);
    if (hold) {
      EXPECT_EQ(got, want);
    } else {
      ASSERT_EQ(got.size(), 240u);
      EXPECT_EQ(got.front(), 1'000'000);
    }
  }
}

// Decodes an output chunk of encoding 1 or 4 into (t, st) pairs.
std::vector<std::pair<int64_t, int64_t>> decoded(const ChunkData& c) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (c.encoding == uint8_t(chunkenc::Encoding::kXOR2)) {
    chunkenc::Xor2Iterator it(c.data);
    while (it.next()) out.push_back({it.t(), it.st()});
    EXPECT_EQ(it.err(), "");
  } else {
    chunkenc::XorIterator it(c.data);
    while (it.next()) out.push_back({it.t(), 0});
    EXPECT_EQ(it.err(), "");
  }
  return out;
}

// Floats from XOR2 chunks are re-encoded as Prometheus 3.14's
// seriesToChunkEncoder does: a chunk takes the encoding its first sample
// wants (XOR2 when it comes from XOR2 or has a start timestamp), later
// samples stay in it, except that a start timestamp cuts an XOR chunk.
TEST(Rechunker, Xor2SamplesFollowPrometheusCutRules) {
  std::vector<SourceChunk> sources(2);
  sources[0] = {0, 0, uint8_t(chunkenc::Encoding::kXOR), {}, 1000};   // never whole
  sources[1] = {0, 0, uint8_t(chunkenc::Encoding::kXOR2), {}, 1000};  // never whole
  std::vector<std::vector<int64_t>> starts(2);
  starts[1].assign(1000, 0);
  starts[1][1] = 500;  // only the XOR2 chunk's second sample has a start timestamp
  SampleRun merged;
  merged.push_back({1000, 0, 0, 0});  // XOR, no ST: the chunk is XOR
  merged.push_back({2000, 0, 1, 0});  // from XOR2, no ST: stays in the XOR chunk
  merged.push_back({3000, 0, 1, 1});  // ST: cuts, an XOR2 chunk starts
  merged.push_back({4000, 0, 0, 1});  // from XOR: stays in the XOR2 chunk
  Rechunker r;
  std::vector<ChunkData> out;
  r.add(merged, sources, out, {}, starts);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].encoding, uint8_t(chunkenc::Encoding::kXOR));
  EXPECT_EQ(decoded(out[0]), (std::vector<std::pair<int64_t, int64_t>>{{1000, 0}, {2000, 0}}));
  EXPECT_EQ(out[1].encoding, uint8_t(chunkenc::Encoding::kXOR2));
  EXPECT_EQ(decoded(out[1]), (std::vector<std::pair<int64_t, int64_t>>{{3000, 500}, {4000, 0}}));
  EXPECT_EQ(out[1].min_time, 3000);
  EXPECT_EQ(out[1].max_time, 4000);

  // 250 samples from XOR2: chunks of 120, 120 and 10, all XOR2.
  SampleRun many;
  for (uint32_t i = 0; i < 250; ++i) many.push_back({int64_t(i) * 1000, 0, 1, i});
  out.clear();
  r.add(many, sources, out, {}, starts);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& c : out) EXPECT_EQ(c.encoding, uint8_t(chunkenc::Encoding::kXOR2));
  EXPECT_EQ(out[2].num_samples, 10u);
  EXPECT_EQ(decoded(out[0])[1].second, 500);

  // Legacy output: XOR only, start timestamps dropped, no XOR2 chunk copied.
  Rechunker legacy;
  legacy.set_output_encodings(OutputEncodings::kLegacy);
  out.clear();
  legacy.add(merged, sources, out, {}, starts);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].encoding, uint8_t(chunkenc::Encoding::kXOR));
  EXPECT_EQ(out[0].num_samples, 4u);
  EXPECT_FALSE(legacy.may_copy(sources[1]));
  EXPECT_TRUE(legacy.may_copy(sources[0]));
}

}  // namespace
}  // namespace promblock::merge
