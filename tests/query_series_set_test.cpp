// The query layer behind `dump`: postings for matchers, series sets of one
// block and of several, and the chained sample iterator.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/query/postings_match.h"
#include "tsdb/query/series_set.h"
#include "tsdb/tombstones/tombstones.h"

namespace promblock {
namespace {

using testing::Samples;
using testing::samples_at;
using testing::TempDir;
using testing::write_block;

// "labels: t,t,..;" for every series of a set.
std::string walk(SeriesSet& set) {
  std::string out;
  while (set.next()) {
    out += labels_to_string(set.labels());
    out += ':';
    auto it = set.samples();
    while (it->next()) out.append(" ").append(std::to_string(it->t()));
    out += ";";
  }
  return out;
}

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = write_block(
        tmp_.path(),
        {{{{"__name__", "up"}, {"job", "api"}}, {samples_at({0, 10}), samples_at({20})}},
         {{{"__name__", "up"}, {"job", "db"}}, {samples_at({5})}},
         {{{"__name__", "down"}, {"job", "api"}}, {samples_at({1})}}},
        0, 100);
    b_ = write_block(tmp_.path(),
                     {{{{"__name__", "up"}, {"job", "api"}}, {samples_at({10, 15, 30})}},
                      {{{"__name__", "zzz"}}, {samples_at({2})}}},
                     0, 100);
  }
  std::string names(const BlockReader& block, const std::string& selector) {
    std::string out;
    Labels labels;
    std::vector<index::ChunkMeta> chunks;
    for (uint32_t ref : postings_for_matchers(block.index(), parse_selector(selector))) {
      block.index().series(ref, labels, chunks);
      out += labels_to_string(labels) + ";";
    }
    return out;
  }
  TempDir tmp_;
  std::string a_, b_;
};

TEST_F(QueryTest, PostingsForMatchersOfEveryKind) {
  BlockReader a(a_);
  EXPECT_EQ(names(a, "up"), "{__name__=\"up\", job=\"api\"};{__name__=\"up\", job=\"db\"};");
  EXPECT_EQ(names(a, "up{job!=\"api\"}"), "{__name__=\"up\", job=\"db\"};");
  EXPECT_EQ(names(a, "{job=~\"a.*\", __name__!~\"u.\"}"), "{__name__=\"down\", job=\"api\"};");
  EXPECT_EQ(names(a, "{job=\"none\"}"), "");
  EXPECT_EQ(names(a, "{job=\"db\", other=\"\"}"), "{__name__=\"up\", job=\"db\"};")
      << "an empty value matches series without the label";
}

TEST_F(QueryTest, BlockSeriesSetTrimsToTheRange) {
  BlockReader a(a_);
  BlockSeriesSet set(a, parse_selector("{job=\"api\"}"), 5, 15);
  EXPECT_EQ(walk(set), "{__name__=\"up\", job=\"api\"}: 10;");
}

TEST_F(QueryTest, BlockSeriesSetAppliesTombstones) {
  uint32_t ref = *BlockReader(a_).index().postings("job", "db").begin();
  uint32_t api = *BlockReader(a_).index().postings("__name__", "up").begin();
  Tombstones ts;
  add_interval(ts, ref, {0, 50});  // the whole series: not yielded at all
  add_interval(ts, api, {10, 10});
  write_tombstones(a_ + "/tombstones", ts);
  BlockReader a(a_);
  BlockSeriesSet set(a, parse_selector("up"), INT64_MIN, INT64_MAX);
  EXPECT_EQ(walk(set), "{__name__=\"up\", job=\"api\"}: 0 20;");
}

TEST_F(QueryTest, MergedSeriesSetJoinsEqualSeriesAndChainsTheirSamples) {
  BlockReader a(a_), b(b_);
  std::vector<std::unique_ptr<SeriesSet>> sets;
  sets.push_back(std::make_unique<BlockSeriesSet>(a, std::vector<Matcher>{}, INT64_MIN, INT64_MAX));
  sets.push_back(std::make_unique<BlockSeriesSet>(b, std::vector<Matcher>{}, INT64_MIN, INT64_MAX));
  MergedSeriesSet merged(std::move(sets));
  EXPECT_EQ(walk(merged),
            "{__name__=\"down\", job=\"api\"}: 1;"
            "{__name__=\"up\", job=\"api\"}: 0 10 15 20 30;"
            "{__name__=\"up\", job=\"db\"}: 5;"
            "{__name__=\"zzz\"}: 2;");
}

// A child iterator over fixed float samples.
class FixedSamples final : public SampleIterator {
 public:
  explicit FixedSamples(Samples s) : s_(std::move(s)) {}
  bool next() override { return ++i_ < s_.size(); }
  int64_t t() const override { return s_[i_].first; }
  double v() const override { return s_[i_].second; }

 private:
  Samples s_;
  size_t i_ = size_t(-1);
};

TEST(ChainSampleIterator, TimeOrderOneSamplePerTimestampEarliestChildWins) {
  std::vector<std::unique_ptr<SampleIterator>> children;
  children.push_back(std::make_unique<FixedSamples>(Samples{{1, 10}, {3, 30}}));
  children.push_back(std::make_unique<FixedSamples>(Samples{{2, 200}, {3, 300}, {4, 400}}));
  children.push_back(std::make_unique<FixedSamples>(Samples{}));
  ChainSampleIterator it(std::move(children));
  Samples got;
  while (it.next()) got.emplace_back(it.t(), it.v());
  EXPECT_EQ(got, (Samples{{1, 10}, {2, 200}, {3, 30}, {4, 400}}));
  EXPECT_EQ(it.histogram(), nullptr);
  EXPECT_FALSE(it.next());
}

}  // namespace
}  // namespace promblock
