#include "tsdb/merge/replicas.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/test_util.h"

namespace promblock::merge {
namespace {

using testing::TempDir;
using testing::write_block;

BlockMeta meta_with_labels(nlohmann::ordered_json labels) {
  BlockMeta m;
  m.min_time = 0;
  m.max_time = 100;
  if (!labels.empty()) m.thanos = {{"labels", labels}};
  return m;
}

TEST(ReplicaRules, ExternalKeyAndGroupLeaveOutOnlyReplicaLabels) {
  ReplicaRules rules({"replica"});
  auto m = meta_with_labels({{"replica", "b"}, {"cluster", "eu"}});
  EXPECT_TRUE(rules.is_replica_label("replica"));
  EXPECT_FALSE(rules.is_replica_label("cluster"));
  EXPECT_EQ(rules.external_key(m), "b");
  EXPECT_EQ(rules.group_labels(m), (std::map<std::string, std::string>{{"cluster", "eu"}}));
  EXPECT_EQ(rules.external_key(meta_with_labels({{"cluster", "eu"}})), "");
}

TEST(ReplicaRules, SeriesKeyPrefersExternalThenSeriesThenSource) {
  ReplicaRules rules({"replica"});
  Labels with{{"job", "x"}, {"replica", "s1"}}, without{{"job", "x"}};
  EXPECT_EQ(rules.series_key("ext", with, 0), "ext");
  EXPECT_EQ(rules.series_key("", with, 0), "s1");
  EXPECT_NE(rules.series_key("", without, 0), rules.series_key("", without, 1))
      << "sources without replica labels are replicas of their own";
}

TEST(ReplicaRules, SeveralLabelsJoinInFlagOrder) {
  ReplicaRules ab({"a", "b"}), ba({"b", "a"});
  auto m = meta_with_labels({{"a", "1"}, {"b", "2"}});
  EXPECT_NE(ab.external_key(m), ba.external_key(m));
  EXPECT_NE(ab.external_key(m).find('1'), std::string::npos);
  EXPECT_LT(ab.external_key(m).find('1'), ab.external_key(m).find('2'));
}

TEST(ReplicaRules, NamedReplicasRankByNameThenSourcesInOrder) {
  TempDir tmp;
  ReplicaRules rules({"replica"});
  std::vector<std::unique_ptr<BlockReader>> blocks;
  auto add = [&](nlohmann::ordered_json labels, std::vector<testing::TestSeries> series,
                 uint32_t source) {
    blocks.push_back(std::make_unique<BlockReader>(
        write_block(tmp.path(), std::move(series), meta_with_labels(labels))));
    rules.register_block(*blocks.back(), source);
  };
  std::vector<testing::TestSeries> plain{{{{"job", "x"}}, {{{1, 1}}}}};
  add({{"replica", "z"}}, plain, 0);
  add({}, plain, 1);  // no replica anywhere: named by its source
  add({}, {{{{"job", "x"}, {"replica", "m"}}, {{{1, 1}}}}}, 2);  // named in its series
  add({{"replica", "a"}}, plain, 3);
  rules.assign_ranks();
  uint32_t a = rules.rank("a"), m = rules.rank("m"), z = rules.rank("z");
  uint32_t source1 = rules.rank(rules.series_key("", Labels{{"job", "x"}}, 1));
  EXPECT_LT(a, m);
  EXPECT_LT(m, z);
  EXPECT_LT(z, source1) << "sources rank after named replicas";
  EXPECT_EQ(a, 0u);
}

}  // namespace
}  // namespace promblock::merge
