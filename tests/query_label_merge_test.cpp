#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tsdb/query/label_merge.h"

namespace promblock {
namespace {

// A child over a fixed list of label sets, each {"s", value}.
class ListChild {
 public:
  explicit ListChild(std::vector<std::string> values) {
    for (auto& v : values) series_.push_back({{"s", v}});
  }
  bool next() {
    if (started_) ++pos_;
    started_ = true;
    ++calls_;
    return pos_ < series_.size();
  }
  const Labels& labels() const { return series_[pos_]; }
  int calls() const { return calls_; }

 private:
  std::vector<Labels> series_;
  size_t pos_ = 0;
  bool started_ = false;
  int calls_ = 0;
};

// Each step as "value:child,child".
std::vector<std::string> walk(LabelMerge<ListChild>& merge) {
  std::vector<std::string> out;
  while (merge.next()) {
    std::string s = std::string(label_value(merge.labels(), "s")) + ":";
    for (size_t i : merge.group()) s += std::to_string(i) + ",";
    out.push_back(s);
  }
  return out;
}

TEST(LabelMerge, YieldsLabelsInOrderWithTheChildrenHoldingThem) {
  ListChild a({"a", "c", "d"}), b({"b", "c"}), c({"c", "e"});
  LabelMerge<ListChild> merge({&a, &b, &c});
  EXPECT_EQ(walk(merge), (std::vector<std::string>{"a:0,", "b:1,", "c:0,1,2,", "d:0,", "e:2,"}));
}

TEST(LabelMerge, NoChildrenOrEmptyChildrenYieldNothing) {
  LabelMerge<ListChild> none({});
  EXPECT_FALSE(none.next());
  ListChild a({}), b({});
  LabelMerge<ListChild> empty({&a, &b});
  EXPECT_FALSE(empty.next());
  EXPECT_FALSE(empty.next());
}

TEST(LabelMerge, StepCollectsSeveralCopiesInOneChild) {
  ListChild a({"x", "x", "x", "y"}), b({"x", "z"});
  LabelMerge<ListChild> merge({&a, &b});
  ASSERT_TRUE(merge.next());
  EXPECT_EQ(merge.group().size(), 2u);
  int copies_a = 1;
  while (merge.step(0)) ++copies_a;
  EXPECT_EQ(copies_a, 3);
  EXPECT_FALSE(merge.step(1)) << "b's next series is z";
  // Stepped children are not stepped again: y and z are not skipped.
  EXPECT_EQ(walk(merge), (std::vector<std::string>{"y:0,", "z:1,"}));
}

TEST(LabelMerge, UnsteppedChildrenMoveOnOncePerSeries) {
  // Without step(), a child holding a series twice yields it twice (dump
  // never has such children; merge and rewrite step them).
  ListChild a({"x", "x"});
  LabelMerge<ListChild> merge({&a});
  EXPECT_EQ(walk(merge), (std::vector<std::string>{"x:0,", "x:0,"}));
  EXPECT_EQ(a.calls(), 3);
}

TEST(LabelMerge, LabelsStayWhileChildrenAreStepped) {
  ListChild a({"m", "n"});
  LabelMerge<ListChild> merge({&a});
  ASSERT_TRUE(merge.next());
  EXPECT_FALSE(merge.step(0));
  EXPECT_EQ(label_value(merge.labels(), "s"), "m") << "the child is on n already";
  EXPECT_EQ(label_value(merge.child(0).labels(), "s"), "n");
}

TEST(LabelMerge, SaysWhichChildrenAreOnASeries) {
  // After a series' group is stepped, each child is on the series it
  // yields next, or done (a merge peeks at what comes after a batch).
  ListChild a({"a", "c"}), b({"b"});
  LabelMerge<ListChild> merge({&a, &b});
  ASSERT_TRUE(merge.next());  // a
  EXPECT_TRUE(merge.positioned(0) && merge.positioned(1));
  EXPECT_FALSE(merge.step(0));
  EXPECT_TRUE(merge.positioned(0)) << "on c";
  ASSERT_TRUE(merge.next());  // b
  EXPECT_FALSE(merge.step(1));
  EXPECT_FALSE(merge.positioned(1)) << "b is done";
  EXPECT_TRUE(merge.positioned(0));
  ASSERT_TRUE(merge.next());  // c
  EXPECT_FALSE(merge.step(0));
  EXPECT_FALSE(merge.positioned(0));
  EXPECT_FALSE(merge.next());
}

TEST(LabelMerge, ComparesWholeLabelSetsNotJustValues) {
  struct Fixed {
    std::vector<Labels> series;
    size_t pos = 0;
    bool started = false;
    bool next() {
      if (started) ++pos;
      started = true;
      return pos < series.size();
    }
    const Labels& labels() const { return series[pos]; }
  };
  Fixed x{{{{"a", "1"}}, {{"a", "1"}, {"b", "1"}}}}, y{{{{"a", "1"}, {"b", "1"}}}};
  LabelMerge<Fixed> merge({&x, &y});
  ASSERT_TRUE(merge.next());
  EXPECT_EQ(merge.labels(), (Labels{{"a", "1"}}));
  EXPECT_EQ(merge.group().size(), 1u);
  ASSERT_TRUE(merge.next());
  EXPECT_EQ(merge.labels(), (Labels{{"a", "1"}, {"b", "1"}}));
  EXPECT_EQ(merge.group().size(), 2u);
  EXPECT_FALSE(merge.next());
}

}  // namespace
}  // namespace promblock
