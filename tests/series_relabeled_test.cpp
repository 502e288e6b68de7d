#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/query/relabeled_series.h"

namespace promblock {
namespace {

using testing::TempDir;
using testing::write_block;

class SortRelabeled : public ::testing::Test {
 protected:
  void SetUp() override {
    // In the index {a=1,b=0,r=z} comes first; without r it sorts after
    // the two {a=1}.
    dir_ = write_block(tmp_.path(),
                       {{{{"a", "1"}, {"r", "y"}}, {{{1, 1}}}},
                        {{{"a", "1"}, {"r", "x"}}, {{{2, 2}}}},
                        {{{"a", "2"}, {"r", "a"}}, {{{3, 3}}}},
                        {{{"a", "1"}, {"b", "0"}, {"r", "z"}}, {{{4, 4}}}}},
                       0, 10);
    block_ = std::make_unique<BlockReader>(dir_);
  }
  TempDir tmp_;
  std::string dir_;
  std::unique_ptr<BlockReader> block_;
};

TEST_F(SortRelabeled, SortsByNewLabelsAndKeepsOldOrderAmongEquals) {
  auto drop_r = [](uint32_t, const Labels& stored, Labels& out) {
    for (const auto& l : stored)
      if (l.name != "r") out.push_back(l);
    return uint32_t(label_value(stored, "r")[0]);  // tag: the dropped value
  };
  auto sorted = sort_relabeled(block_->index(), block_->index().all_postings(), drop_r);
  ASSERT_EQ(sorted.size(), 4u);
  std::vector<std::string> got;
  for (const auto& s : sorted) got.push_back(labels_to_string(s.labels) + char(s.tag));
  EXPECT_EQ(got, (std::vector<std::string>{"{a=\"1\"}x", "{a=\"1\"}y", "{a=\"1\", b=\"0\"}z",
                                           "{a=\"2\"}a"}));
  // The refs are the index's: reading them back gives the stored labels.
  Labels stored;
  std::vector<index::ChunkMeta> chunks;
  block_->index().series(sorted[1].ref, stored, chunks);
  EXPECT_EQ(label_value(stored, "r"), "y");
}

TEST_F(SortRelabeled, OnlyTheGivenRefsAndAStreamOverThem) {
  roaring::Roaring some;
  some.add(block_->index().all_postings().minimum());
  auto sorted = sort_relabeled(block_->index(), some, [](uint32_t, const Labels& l, Labels& out) {
    out = l;
    return uint32_t(7);
  });
  ASSERT_EQ(sorted.size(), 1u);
  EXPECT_EQ(sorted[0].tag, 7u);
  RelabeledSeriesStream stream(std::move(sorted));
  ASSERT_TRUE(stream.next());
  EXPECT_EQ(stream.labels(), (Labels{{"a", "1"}, {"b", "0"}, {"r", "z"}}));
  EXPECT_FALSE(stream.next());
}

}  // namespace
}  // namespace promblock
