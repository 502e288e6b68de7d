#pragma once
// A k-way merge over children that each yield series in label order: an
// iterator over iterators. Each step is positioned on the smallest labels
// any child holds and names the children holding them (the copies of one
// output series). `dump`, `merge` and `rewrite` all walk their inputs with
// it, stacking their own per-series work on top.
//
// Child is any type with `bool next()` and `const Labels& labels() const`;
// it is a template parameter so that the walk costs no virtual call of its
// own (it runs once per series, never per sample).
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "tsdb/model/labels.h"

namespace promblock {

template <class Child>
class LabelMerge {
 public:
  // The children are not owned and must outlive the merge.
  explicit LabelMerge(std::vector<Child*> children)
      : children_(std::move(children)), has_(children_.size(), 0), parked_(children_.size(), 0) {}

  // Moves to the next output series; false when every child is done.
  // Each child of the previous group is first stepped once, unless step()
  // has already moved it off that series.
  bool next() {
    if (!started_) {
      for (size_t i = 0; i < children_.size(); ++i) has_[i] = children_[i]->next();
      started_ = true;
    } else {
      for (size_t i : group_) {
        if (parked_[i])
          parked_[i] = 0;
        else
          has_[i] = children_[i]->next();
      }
    }
    group_.clear();
    for (size_t i = 0; i < children_.size(); ++i) {
      if (!has_[i]) continue;
      int c = group_.empty() ? -1 : compare_labels(children_[i]->labels(), labels_);
      if (c < 0) {
        group_.clear();
        labels_ = children_[i]->labels();
      }
      if (c <= 0) group_.push_back(i);
    }
    return !group_.empty();
  }

  // The labels of the current series (a copy: children move on in step()).
  const Labels& labels() const { return labels_; }
  // Indexes of the children positioned on the current series, ascending.
  std::span<const size_t> group() const { return group_; }
  Child& child(size_t i) const { return *children_[i]; }
  // Whether child i is positioned on a series: between next() and the
  // steps of its group, on the current one; after them, on one to come.
  bool positioned(size_t i) const { return has_[i]; }

  // Steps child `i` of the group to its next series and says whether that
  // one has the current labels too: a child may hold several copies of one
  // output series (when relabelling made them equal). Once it says false
  // the child is left where it is for next().
  bool step(size_t i) {
    has_[i] = children_[i]->next();
    if (has_[i] && compare_labels(children_[i]->labels(), labels_) == 0) return true;
    parked_[i] = 1;
    return false;
  }

 private:
  std::vector<Child*> children_;
  std::vector<char> has_;     // child i is positioned on a series
  std::vector<char> parked_;  // child i was stepped past the current group
  std::vector<size_t> group_;
  Labels labels_;
  bool started_ = false;
};

}  // namespace promblock
