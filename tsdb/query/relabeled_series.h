#pragma once
// Series of an index under new labels, in the order of those labels. Where
// a relabelling (removing or adding labels) can change the order the index
// stores series in, the refs are re-sorted by their new labels: labels and
// refs only, no chunk data. The sort is stable, so copies of one new series
// keep the order of their old labels.
#include <cstdint>
#include <functional>
#include <roaring/roaring.hh>
#include <vector>

#include "index/index_reader.h"
#include "tsdb/model/labels.h"

namespace promblock {

struct RelabeledSeries {
  Labels labels;     // the new labels
  uint32_t ref = 0;  // the series' ref in the index
  uint32_t tag = 0;  // what the relabelling function returned for it
};

// Writes the new labels of a series (`stored`, at `ref`) into `out` and
// returns a tag the caller keeps with it (merge: the replica rank).
using Relabel = std::function<uint32_t(uint32_t ref, const Labels& stored, Labels& out)>;

// The series `refs` of `index`, relabelled and sorted by their new labels.
std::vector<RelabeledSeries> sort_relabeled(const index::IndexReader& index,
                                            const roaring::Roaring& refs, const Relabel& relabel);

// A stream over sorted relabelled series, a child for LabelMerge.
class RelabeledSeriesStream {
 public:
  explicit RelabeledSeriesStream(std::vector<RelabeledSeries> series)
      : series_(std::move(series)) {}
  bool next() {
    if (started_) ++pos_;
    started_ = true;
    return pos_ < series_.size();
  }
  const Labels& labels() const { return series_[pos_].labels; }
  const RelabeledSeries& current() const { return series_[pos_]; }
  size_t size() const { return series_.size(); }

 private:
  std::vector<RelabeledSeries> series_;
  size_t pos_ = 0;
  bool started_ = false;
};

}  // namespace promblock
