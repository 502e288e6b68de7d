#include "tsdb/merge/block_merger.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/query/series_set.h"

namespace promblock::merge {
namespace {

using testing::Samples;
using testing::samples_at;
using testing::TempDir;
using testing::TestSeries;
using testing::write_block;

// Every series of a block with its samples, read through the query layer.
std::map<std::string, Samples> read_series(const std::string& dir) {
  BlockReader block(dir);
  BlockSeriesSet set(block, {}, INT64_MIN, INT64_MAX);
  std::map<std::string, Samples> out;
  while (set.next()) {
    auto& s = out[labels_to_string(set.labels())];
    auto it = set.samples();
    while (it->next()) s.emplace_back(it->t(), it->v());
  }
  return out;
}

class BlockMergerTest : public ::testing::Test {
 protected:
  // A block of replica `replica` (external label) holding `series`.
  MergeInput input(const std::string& replica, std::vector<TestSeries> series,
                   const std::string& cluster = "eu") {
    BlockMeta m;
    m.min_time = 0;
    m.max_time = 1000;
    m.thanos = {{"labels", {{"cluster", cluster}, {"replica", replica}}}};
    std::string dir = write_block(in_.path(), std::move(series), m);
    return {FoundBlock{dir, in_.path(), read_meta(dir)}, next_source_++};
  }
  // A block of replica `replica` covering [min_time, max_time).
  MergeInput input_at(const std::string& replica, std::vector<TestSeries> series, int64_t min_time,
                      int64_t max_time) {
    MergeInput in = input(replica, std::move(series));
    in.block.meta.min_time = min_time;
    in.block.meta.max_time = max_time;
    return in;
  }
  MergeOptions options(DedupMode mode) {
    MergeOptions o;
    o.out_dir = out_.path();
    o.replica_labels = {"replica"};
    o.mode = mode;
    o.threads = 2;
    return o;
  }

  TempDir in_, out_;
  uint32_t next_source_ = 0;
  Labels up_a_{{"__name__", "up"}, {"instance", "a"}};
  Labels up_b_{{"__name__", "up"}, {"instance", "b"}};
};

TEST_F(BlockMergerTest, ChainJoinsReplicasIntoOneSeriesEach) {
  std::vector<MergeInput> inputs{
      input("r1", {{up_a_, {samples_at({0, 20, 40})}}, {up_b_, {samples_at({0})}}}),
      input("r2", {{up_a_, {samples_at({10, 20, 30})}}})};
  auto r = merge_blocks(inputs, options(DedupMode::kChain));
  EXPECT_EQ(r.series_in, 3u);
  EXPECT_EQ(r.series_out, 2u);
  EXPECT_EQ(r.samples_out, 6u);
  EXPECT_EQ(r.inputs.size(), 2u);
  auto got = read_series(r.path);
  EXPECT_EQ(got["{__name__=\"up\", instance=\"a\"}"], samples_at({0, 10, 20, 30, 40}));
  EXPECT_EQ(got["{__name__=\"up\", instance=\"b\"}"], samples_at({0}));
  auto meta = read_meta(r.path);
  EXPECT_EQ(meta.level, 2);
  EXPECT_EQ(meta.external_labels(), (std::map<std::string, std::string>{{"cluster", "eu"}}));
}

TEST_F(BlockMergerTest, ManyInputsOpenedSideBySideMergeAsFew) {
  // Six inputs are opened on several threads; the merge is the same.
  std::vector<MergeInput> inputs;
  for (int r = 0; r < 6; ++r)
    inputs.push_back(input("r" + std::to_string(r), {{up_a_, {samples_at({r, 10 + r})}}}));
  auto r = merge_blocks(inputs, options(DedupMode::kChain));
  EXPECT_EQ(r.inputs.size(), 6u);
  EXPECT_EQ(read_series(r.path)["{__name__=\"up\", instance=\"a\"}"],
            samples_at({0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}));
}

TEST_F(BlockMergerTest, OfInputsThatFailToOpenTheFirstInOrderIsReported) {
  std::vector<MergeInput> inputs;
  for (int r = 0; r < 6; ++r)
    inputs.push_back(input("r" + std::to_string(r), {{up_a_, {samples_at({r})}}}));
  // Inputs 2 and 4 have indexes with a wrong magic; whichever thread opens
  // which first, the error names input 2's.
  for (int bad : {2, 4}) {
    std::FILE* f = std::fopen((inputs[size_t(bad)].block.dir + "/index").c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputs("XXXX", f);
    std::fclose(f);
  }
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      merge_blocks(inputs, options(DedupMode::kChain));
      FAIL() << "merged inputs with broken indexes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(inputs[2].block.dir + "/index"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(out_.path())) << "a failed merge left something behind";
}

TEST_F(BlockMergerTest, NoneKeepsReplicasApartUnderTheirLabel) {
  std::vector<MergeInput> inputs{input("r1", {{up_a_, {samples_at({0, 20})}}}),
                                 input("r2", {{up_a_, {samples_at({10})}}})};
  auto r = merge_blocks(inputs, options(DedupMode::kNone));
  auto got = read_series(r.path);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got["{__name__=\"up\", instance=\"a\", replica=\"r1\"}"], samples_at({0, 20}));
  EXPECT_EQ(got["{__name__=\"up\", instance=\"a\", replica=\"r2\"}"], samples_at({10}));
}

TEST_F(BlockMergerTest, PenaltyFollowsTheReplicaNamedFirst) {
  std::vector<MergeInput> inputs{input("r2", {{up_a_, {samples_at({5, 15, 25})}}}),
                                 input("r1", {{up_a_, {samples_at({0, 10, 20})}}})};
  auto r = merge_blocks(inputs, options(DedupMode::kPenalty));
  EXPECT_EQ(read_series(r.path)["{__name__=\"up\", instance=\"a\"}"], samples_at({0, 10, 20}));
  EXPECT_EQ(r.samples_in, 6u);
}

TEST_F(BlockMergerTest, DifferentGroupsAreRefused) {
  std::vector<MergeInput> inputs{input("r1", {{up_a_, {samples_at({0})}}}, "eu"),
                                 input("r2", {{up_a_, {samples_at({0})}}}, "us")};
  EXPECT_THROW(check_one_group(inputs, {"replica"}), Error);
  EXPECT_THROW(merge_blocks(inputs, options(DedupMode::kChain)), Error);
  EXPECT_NO_THROW(check_one_group(inputs, {"replica", "cluster"}));
}

TEST_F(BlockMergerTest, ShardsSplitTheSeriesBetweenThem) {
  std::vector<TestSeries> series;
  for (int i = 0; i < 20; ++i)
    series.push_back({{{"__name__", "m"}, {"i", std::to_string(i)}}, {samples_at({0, 10})}});
  std::vector<MergeInput> inputs{input("r1", series), input("r2", series)};
  uint64_t total = 0;
  std::map<std::string, Samples> all;
  for (uint64_t k = 0; k < 2; ++k) {
    auto o = options(DedupMode::kChain);
    o.shard = SeriesShard{k, 2};
    uint64_t last_done = 0;
    o.progress = [&](uint64_t done, uint64_t of, uint64_t) {
      EXPECT_EQ(of, 40u);
      last_done = done;
    };
    auto r = merge_blocks(inputs, o);
    EXPECT_EQ(last_done, 40u) << "skipped copies count as done";
    EXPECT_GT(r.series_out, 0u);
    EXPECT_LT(r.series_out, 20u);
    total += r.series_out;
    EXPECT_EQ(read_meta(r.path).external_labels().at(kShardLabel), shard_label_value(*o.shard));
    all.merge(read_series(r.path));
  }
  EXPECT_EQ(total, 20u);
  EXPECT_EQ(all.size(), 20u) << "every series in exactly one shard";
}

TEST_F(BlockMergerTest, ManySeriesCrossBatchesInOrder) {
  // More series than one batch holds: the output is still complete and sorted.
  std::vector<TestSeries> r1, r2;
  for (int i = 0; i < 2500; ++i) {
    Labels l{{"__name__", "m"}, {"i", std::to_string(i)}};
    r1.push_back({l, {samples_at({0})}});
    if (i % 2) r2.push_back({l, {samples_at({1})}});
  }
  std::vector<MergeInput> inputs{input("r1", r1), input("r2", r2)};
  auto r = merge_blocks(inputs, options(DedupMode::kChain));
  EXPECT_EQ(r.series_out, 2500u);
  EXPECT_EQ(r.samples_out, 2500u + 1250u);
  auto got = read_series(r.path);
  EXPECT_EQ(got["{__name__=\"m\", i=\"7\"}"], samples_at({0, 1}));
  EXPECT_EQ(got["{__name__=\"m\", i=\"8\"}"], samples_at({0}));
}

// Blocks one after another in time, each its caller's own: the output
// links their chunk segments instead of writing the chunks again.
TEST_F(BlockMergerTest, InputsFollowingOneAnotherShareTheirSegmentsWithTheOutput) {
  auto first = input_at(
      "r1", {{up_a_, {samples_at({0, 10}), samples_at({20})}}, {up_b_, {samples_at({5})}}}, 0, 100);
  auto second = input_at("r1", {{up_a_, {samples_at({100, 110})}}}, 100, 200);
  first.may_link = second.may_link = true;
  for (auto mode : {DedupMode::kChain, DedupMode::kPenalty}) {
    auto r = merge_blocks({first, second}, options(mode));
    EXPECT_EQ(r.segments_linked, 2u);
    EXPECT_EQ(r.chunks_linked, 4u);
    EXPECT_EQ(r.chunks_unread, 4u) << "their blocks' stats count their samples";
    EXPECT_EQ(r.chunks_out, 4u);
    EXPECT_EQ(r.samples_in, 6u);
    EXPECT_EQ(r.samples_out, 6u);
    auto stats = read_meta(r.path).stats;
    EXPECT_EQ(stats.num_samples, 6u);
    EXPECT_EQ(stats.num_float_samples, 6u);
    EXPECT_EQ(stats.num_histogram_samples, 0u);
    EXPECT_EQ(stats.num_chunks, 4u);
    auto got = read_series(r.path);
    EXPECT_EQ(got["{__name__=\"up\", instance=\"a\"}"], samples_at({0, 10, 20, 100, 110}));
    EXPECT_EQ(got["{__name__=\"up\", instance=\"b\"}"], samples_at({5}));
    struct stat in_st {
    }, out_st{};
    ASSERT_EQ(::stat((second.block.dir + "/chunks/000001").c_str(), &in_st), 0);
    ASSERT_EQ(::stat((r.path + "/chunks/000002").c_str(), &out_st), 0);
    EXPECT_EQ(in_st.st_ino, out_st.st_ino) << "the second input's segment, linked";
    std::filesystem::remove_all(r.path);
  }
}

// Linked inputs' chunks go by their metas alone and fill batches by a
// larger count than chunks to decode: many series across such batches
// still come out complete, in order, every chunk in place.
TEST_F(BlockMergerTest, ManyLinkedSeriesCrossBatchesInOrder) {
  std::vector<TestSeries> early, late;
  for (int i = 0; i < 3000; ++i) {
    Labels l{{"__name__", "m"}, {"i", std::to_string(i)}};
    early.push_back({l, {samples_at({0}), samples_at({10}), samples_at({20})}});
    if (i % 3) late.push_back({l, {samples_at({100}), samples_at({110})}});
  }
  auto first = input_at("r1", early, 0, 100), second = input_at("r1", late, 100, 200);
  first.may_link = second.may_link = true;
  auto r = merge_blocks({first, second}, options(DedupMode::kChain));
  EXPECT_EQ(r.series_out, 3000u);
  EXPECT_EQ(r.chunks_out, 9000u + 4000u);
  EXPECT_EQ(r.chunks_linked, r.chunks_out);
  EXPECT_EQ(r.chunks_unread, r.chunks_out);
  EXPECT_EQ(r.chunks_in, r.chunks_out);
  auto got = read_series(r.path);
  ASSERT_EQ(got.size(), 3000u);
  EXPECT_EQ(got["{__name__=\"m\", i=\"2998\"}"], samples_at({0, 10, 20, 100, 110}));
  EXPECT_EQ(got["{__name__=\"m\", i=\"2997\"}"], samples_at({0, 10, 20}));
}

// A linked block is read where its stats do not count its samples by kind
// (Prometheus before 3.6), and where a series' own chunks overlap and must
// be merged; the output's stats count every sample once either way.
TEST_F(BlockMergerTest, LinkedInputsAreReadWhereTheyMustBe) {
  auto first = input_at("r1", {{up_a_, {samples_at({0, 10})}}, {up_b_, {samples_at({5})}}}, 0, 100);
  auto second = input_at("r1", {{up_a_, {samples_at({100, 110})}}}, 100, 200);
  first.may_link = second.may_link = true;
  first.block.meta.stats.num_float_samples = 0;  // no kinds counted
  auto r = merge_blocks({first, second}, options(DedupMode::kChain));
  EXPECT_EQ(r.chunks_linked, 3u);
  EXPECT_EQ(r.chunks_unread, 1u) << "the second input's only";
  EXPECT_EQ(read_meta(r.path).stats.num_samples, 5u);
  EXPECT_EQ(read_meta(r.path).stats.num_float_samples, 5u);
  EXPECT_EQ(r.samples_in, 5u);

  // Overlapping chunks of one series in one block (and a sample at 10 in
  // both): decoded and merged after all, the rest still unread.
  auto odd = input_at("r1", {{up_a_, {samples_at({0, 10}), samples_at({10, 20})}}}, 0, 100);
  odd.may_link = true;
  for (auto mode : {DedupMode::kChain, DedupMode::kPenalty}) {
    r = merge_blocks({odd, second}, options(mode));
    EXPECT_EQ(read_series(r.path)["{__name__=\"up\", instance=\"a\"}"],
              samples_at({0, 10, 20, 100, 110}));
    EXPECT_EQ(r.chunks_unread, 1u);
    EXPECT_EQ(r.samples_in, 6u);
    EXPECT_EQ(r.samples_out, 5u);
    EXPECT_EQ(read_meta(r.path).stats.num_samples, 5u);
    EXPECT_EQ(read_meta(r.path).stats.num_float_samples, 5u);
    std::filesystem::remove_all(r.path);
  }
}

// Where some chunk would not go into the output unchanged, nothing is
// linked (the linked segment would carry dead bytes).
TEST_F(BlockMergerTest, OverlappingOrForeignInputsAreCopied) {
  auto r1 = input_at("r1", {{up_a_, {samples_at({0, 10})}}}, 0, 100);
  auto r2 = input_at("r2", {{up_a_, {samples_at({5, 15})}}}, 0, 100);
  r1.may_link = r2.may_link = true;
  auto r = merge_blocks({r1, r2}, options(DedupMode::kChain));
  EXPECT_EQ(r.segments_linked, 0u) << "replicas overlap: chunks are merged";
  EXPECT_EQ(read_series(r.path)["{__name__=\"up\", instance=\"a\"}"], samples_at({0, 5, 10, 15}));

  auto later = input_at("r1", {{up_a_, {samples_at({100})}}}, 100, 200);
  later.may_link = false;
  r = merge_blocks({r1, later}, options(DedupMode::kChain));
  EXPECT_EQ(r.segments_linked, 1u) << "only the block that may be shared";
  EXPECT_EQ(r.chunks_linked, 1u);
  EXPECT_EQ(read_series(r.path)["{__name__=\"up\", instance=\"a\"}"], samples_at({0, 10, 100}));

  auto o = options(DedupMode::kChain);
  o.shard = SeriesShard{0, 1};
  EXPECT_EQ(merge_blocks({r1, later}, o).segments_linked, 0u) << "a shard drops series";
}

}  // namespace
}  // namespace promblock::merge
