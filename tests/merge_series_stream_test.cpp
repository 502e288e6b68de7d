#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/merge/series_stream.h"

namespace promblock::merge {
namespace {

using testing::TempDir;
using testing::write_block;

// Every series a stream yields as "labels@rank".
std::vector<std::string> drain(SeriesStream& s) {
  std::vector<std::string> out;
  while (s.next())
    out.push_back(labels_to_string(s.labels()) + "@" + std::to_string(s.replica_rank()));
  return out;
}

class SeriesStreamTest : public ::testing::Test {
 protected:
  std::unique_ptr<BlockReader> block(std::vector<testing::TestSeries> series,
                                     nlohmann::ordered_json ext = {}) {
    BlockMeta m;
    m.min_time = 0;
    m.max_time = 100;
    if (!ext.empty()) m.thanos = {{"labels", ext}};
    return std::make_unique<BlockReader>(write_block(tmp_.path(), std::move(series), m));
  }
  TempDir tmp_;
};

TEST_F(SeriesStreamTest, IndexOrderWhenLabelsStay) {
  auto b = block({{{{"job", "b"}}, {{{1, 1}}}}, {{{"job", "a"}}, {{{1, 1}}}}}, {{"replica", "r1"}});
  ReplicaRules rules({"replica"});
  rules.register_block(*b, 0);
  rules.assign_ranks();
  SeriesStream s(*b, 0, rules, DedupMode::kChain);
  EXPECT_EQ(s.series_count(), 2u);
  EXPECT_EQ(drain(s), (std::vector<std::string>{"{job=\"a\"}@0", "{job=\"b\"}@0"}));
}

TEST_F(SeriesStreamTest, SeriesReplicaLabelsRemovedAndReSortedWithTheirRanks) {
  // In the index {a=1,replica=x,z=0} comes before {a=1,replica=y};
  // without the replica label it sorts after both {a=1}.
  auto b = block({{{{"a", "1"}, {"replica", "y"}}, {{{1, 1}}}},
                  {{{"a", "1"}, {"replica", "x"}, {"z", "0"}}, {{{1, 1}}}},
                  {{{"a", "1"}, {"replica", "x"}}, {{{1, 1}}}}});
  ReplicaRules rules({"replica"});
  rules.register_block(*b, 0);
  rules.assign_ranks();
  SeriesStream s(*b, 0, rules, DedupMode::kPenalty);
  EXPECT_EQ(drain(s),
            (std::vector<std::string>{"{a=\"1\"}@0", "{a=\"1\"}@1", "{a=\"1\", z=\"0\"}@0"}));
}

TEST_F(SeriesStreamTest, ModeNoneAddsTheExternalReplicaLabel) {
  auto b = block({{{{"a", "1"}}, {{{1, 1}}}}, {{{"a", "1"}, {"zz", "2"}}, {{{1, 1}}}}},
                 {{"replica", "r2"}, {"cluster", "c"}});
  ReplicaRules rules({"replica"});
  rules.register_block(*b, 0);
  rules.assign_ranks();
  SeriesStream s(*b, 0, rules, DedupMode::kNone);
  EXPECT_EQ(drain(s), (std::vector<std::string>{"{a=\"1\", replica=\"r2\"}@0",
                                                "{a=\"1\", replica=\"r2\", zz=\"2\"}@0"}));
}

TEST_F(SeriesStreamTest, RefsPointAtTheStoredSeries) {
  auto b = block(
      {{{{"a", "1"}, {"replica", "y"}}, {{{5, 1}}}}, {{{"a", "0"}, {"replica", "x"}}, {{{7, 1}}}}});
  ReplicaRules rules({"replica"});
  rules.register_block(*b, 3);
  rules.assign_ranks();
  SeriesStream s(*b, 3, rules, DedupMode::kChain);
  ASSERT_TRUE(s.next());
  Labels stored;
  std::vector<index::ChunkMeta> chunks;
  b->index().series(s.ref(), stored, chunks);
  EXPECT_EQ(stored, (Labels{{"a", "0"}, {"replica", "x"}}));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].min_time, 7);
}

// A merge peeks at the first chunk of the series after a batch, where the
// stream read it already (index order); never where it re-sorts series.
TEST_F(SeriesStreamTest, FirstChunkRefWhereReadInIndexOrder) {
  auto b = block({{{{"a", "1"}}, {{{5, 1}}, {{50, 1}}}}, {{{"a", "2"}}, {{{7, 1}}}}});
  ReplicaRules rules({"replica"});
  rules.register_block(*b, 0);
  rules.assign_ranks();
  SeriesStream s(*b, 0, rules, DedupMode::kChain);
  Labels stored;
  std::vector<index::ChunkMeta> chunks;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(s.next());
    b->index().series(s.ref(), stored, chunks);
    EXPECT_EQ(s.first_chunk_ref(), chunks.front().ref);
    EXPECT_NE(s.first_chunk_ref(), 0u);
  }

  auto relabeled = block({{{{"a", "1"}, {"replica", "y"}}, {{{5, 1}}}}});
  rules.register_block(*relabeled, 1);
  rules.assign_ranks();
  SeriesStream r(*relabeled, 1, rules, DedupMode::kChain);
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.first_chunk_ref(), 0u) << "not read with its labels: unknown";
}

}  // namespace
}  // namespace promblock::merge
