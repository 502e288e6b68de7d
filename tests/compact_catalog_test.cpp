// What the catalog hands the planner from directories of small blocks:
// groups, the sources each group holds, marks, and which blocks are left.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "tests/compact_test_blocks.h"
#include "tsdb/compact/catalog.h"
#include "tsdb/compact/marks.h"
#include "tsdb/model/labels.h"

namespace promblock::compact {
namespace {

using testing::BlockSpec;
using testing::kHour;
using testing::kNow;
using testing::kUlidTime;
using testing::TempDir;
using testing::write_test_block;

class CatalogTest : public ::testing::Test {
 protected:
  CatalogTest() : opts_(testing::two_source_options(tmp_)) {
    std::filesystem::create_directories(opts_.out_dir);
  }

  static std::string text(const Group& g) { return label_map_text(g); }
  std::vector<std::string> member_ulids(const Catalog& c, const std::string& group) const {
    std::vector<std::string> out;
    for (size_t m : c.groups().at(group).members) out.push_back(c.entries()[m].block.meta.ulid);
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  TempDir tmp_;
  CompactOptions opts_;
};

TEST_F(CatalogTest, ReplicasOfOneGroupMeetInOneGroup) {
  auto a1 = write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}});
  auto b1 = write_test_block(opts_.sources[1], {{{"cluster", "x"}, {"replica", "b"}}});
  auto b2 = write_test_block(opts_.sources[1], {{{"cluster", "y"}, {"replica", "b"}}});
  Catalog c(opts_, kNow);
  c.load();
  std::string x = text({{"cluster", "x"}}), y = text({{"cluster", "y"}});
  ASSERT_EQ(c.groups().size(), 2u);
  EXPECT_EQ(member_ulids(c, x), sorted({a1, b1}));
  EXPECT_EQ(member_ulids(c, y), std::vector<std::string>{b2});
  EXPECT_TRUE(c.marks().empty());
  auto blocks = c.plan_blocks();
  ASSERT_EQ(blocks.size(), 3u);
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_FALSE(blocks[i].in_out);
    EXPECT_EQ(blocks[i].group, c.plan_group(i).text);
    EXPECT_EQ(blocks[i].ulid, c.plan_entry(i).block.meta.ulid);
    EXPECT_FALSE(c.replaced_by_job(i));
    EXPECT_EQ(c.plan_entry(i).source_index, blocks[i].ulid == a1 ? 0u : 1u);
  }
}

TEST_F(CatalogTest, ReloadReadsTheOutputAgainAndTheSourcesAsLoaded) {
  auto a1 = write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}});
  auto b1 = write_test_block(opts_.sources[1], {{{"cluster", "x"}, {"replica", "b"}}});
  Catalog c(opts_, kNow);
  c.load();
  std::string x = text({{"cluster", "x"}});
  EXPECT_EQ(member_ulids(c, x), sorted({a1, b1}));
  // Meanwhile another holder of the group compacted both, and a source
  // got a new block: the reload sees the first, not the second.
  auto whole = write_test_block(opts_.out_dir, {{{"cluster", "x"}}, 0, 2 * kHour, {a1, b1}});
  write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}, 2 * kHour, 4 * kHour});
  c.reload_out_dir();
  EXPECT_EQ(c.represented(x), (std::set<std::string>{a1, b1}));
  EXPECT_EQ(member_ulids(c, x), std::vector<std::string>{whole});
  c.load();
  EXPECT_EQ(c.groups().at(x).members.size(), 2u);
}

TEST_F(CatalogTest, SourcesTheOutputHoldsAreLeftOutAndRedundantOutputIsMarked) {
  auto a1 = write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}});
  auto b1 = write_test_block(opts_.sources[1], {{{"cluster", "x"}, {"replica", "b"}}});
  auto a2 = write_test_block(opts_.sources[0],
                             {{{"cluster", "x"}, {"replica", "a"}}, 2 * kHour, 4 * kHour});
  // An earlier run's output of a1 alone, then of a1 and b1: the first is
  // left over from a run killed before it marked its inputs.
  auto partial = write_test_block(opts_.out_dir, {{{"cluster", "x"}}, 0, 2 * kHour, {a1}});
  auto whole = write_test_block(opts_.out_dir, {{{"cluster", "x"}}, 0, 2 * kHour, {a1, b1}});
  Catalog c(opts_, kNow);
  c.load();
  std::string x = text({{"cluster", "x"}});
  EXPECT_EQ(c.represented(x), (std::set<std::string>{a1, b1}));
  EXPECT_EQ(member_ulids(c, x), sorted({whole, a2}));
  ASSERT_EQ(c.marks().size(), 1u);
  EXPECT_EQ(c.marks()[0].block.meta.ulid, partial);
  EXPECT_EQ(c.marks()[0].details, "its sources are all in another block");
  auto blocks = c.plan_blocks();
  ASSERT_EQ(blocks.size(), 2u);
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(blocks[i].in_out, blocks[i].ulid == whole);
    EXPECT_EQ(c.replaced_by_job(i), blocks[i].ulid == whole);
  }
}

TEST_F(CatalogTest, MarkedYoungAndExpiredBlocksAreLeftOut) {
  auto kept = write_test_block(opts_.sources[0], {{{"replica", "a"}}});
  auto deleted = write_test_block(opts_.sources[0], {{{"replica", "a"}}, 2 * kHour, 4 * kHour});
  write_deletion_mark(opts_.sources[0] + "/" + deleted, deleted, "test", kNow / 1000);
  auto frozen = write_test_block(opts_.sources[1], {{{"replica", "b"}}});
  std::ofstream(opts_.sources[1] + "/" + frozen + "/" + kNoCompactMark) << "{}";
  write_test_block(opts_.sources[1], {{{"replica", "b"}}, 0, 2 * kHour, {}, kNow - 60 * 1000});
  opts_.retention_ms = kNow - kHour;  // ends before 1h: expired
  auto old_out = write_test_block(opts_.out_dir, {{}, -48 * kHour, -46 * kHour});
  Catalog c(opts_, kNow);
  c.load();
  ASSERT_EQ(c.entries().size(), 1u);
  EXPECT_EQ(c.entries()[0].block.meta.ulid, kept);
  ASSERT_EQ(c.marks().size(), 1u);
  EXPECT_EQ(c.marks()[0].block.meta.ulid, old_out);
  EXPECT_EQ(c.marks()[0].details, "older than retention");
}

TEST_F(CatalogTest, SplitShardsMakeAGroupPerShard) {
  opts_.split_shards = 2;
  auto a1 = write_test_block(opts_.sources[0], {{{"cluster", "x"}, {"replica", "a"}}});
  Catalog c(opts_, kNow);
  c.load();
  ASSERT_EQ(c.groups().size(), 2u);
  for (uint64_t k = 0; k < 2; ++k) {
    std::string g = text(
        {{"cluster", "x"}, {std::string(merge::kShardLabel), std::to_string(k + 1) + "_of_2"}});
    ASSERT_TRUE(c.groups().count(g)) << g;
    EXPECT_EQ(c.groups().at(g).split, (merge::SeriesShard{k, 2}));
    EXPECT_EQ(member_ulids(c, g), std::vector<std::string>{a1});
  }
}

TEST_F(CatalogTest, AShardTakesOnlyItsGroupsAndKeepGroupsNarrowsThem) {
  for (const char* cluster : {"p", "q", "r", "s", "t", "u"})
    write_test_block(opts_.sources[0], {{{"cluster", cluster}}});
  Catalog all(opts_, kNow);
  all.load();
  ASSERT_EQ(all.groups().size(), 6u);
  size_t taken = 0;
  for (uint64_t i = 0; i < 2; ++i) {
    opts_.shard = merge::SeriesShard{i, 2};
    Catalog c(opts_, kNow);
    c.load();
    for (const auto& [t, g] : c.groups()) EXPECT_EQ(g.hash % 2, i) << t;
    taken += c.groups().size();
  }
  EXPECT_EQ(taken, 6u) << "the shards split the groups between them";
  std::string p = text({{"cluster", "p"}});
  all.keep_groups({p});
  ASSERT_EQ(all.groups().size(), 1u);
  EXPECT_EQ(all.plan_blocks().size(), 1u);
  EXPECT_EQ(all.plan_group(0).text, p);
}

}  // namespace
}  // namespace promblock::compact
