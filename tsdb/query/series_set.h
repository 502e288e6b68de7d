#pragma once
// Iterators over series in label order. A block yields a BlockSeriesSet;
// several blocks are combined by MergedSeriesSet, which joins series with
// equal labels and chains their samples.
#include <memory>
#include <roaring/roaring.hh>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/model/labels.h"
#include "tsdb/model/selector.h"
#include "tsdb/query/label_merge.h"
#include "tsdb/query/sample_iterator.h"

namespace promblock {

class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  virtual bool next() = 0;
  virtual const Labels& labels() const = 0;
  // Samples of the current series; valid while the set lives.
  virtual std::unique_ptr<SampleIterator> samples() const = 0;
};

// Series of one block matching `matchers`, restricted to samples in
// [min_time, max_time] and not deleted by the block's tombstones.
class BlockSeriesSet final : public SeriesSet {
 public:
  BlockSeriesSet(const BlockReader& block, const std::vector<Matcher>& matchers, int64_t min_time,
                 int64_t max_time);
  bool next() override;
  const Labels& labels() const override { return labels_; }
  std::unique_ptr<SampleIterator> samples() const override;

 private:
  const BlockReader& block_;
  int64_t min_time_, max_time_;
  roaring::Roaring postings_;
  roaring::RoaringSetBitForwardIterator it_;
  roaring::RoaringSetBitForwardIterator end_;
  bool started_ = false;
  uint32_t ref_ = 0;
  Labels labels_;
  std::vector<index::ChunkMeta> chunks_;
  std::vector<Interval> deleted_;  // tombstones plus the trimmed time range
};

class MergedSeriesSet final : public SeriesSet {
 public:
  explicit MergedSeriesSet(std::vector<std::unique_ptr<SeriesSet>> sets);
  bool next() override;
  const Labels& labels() const override { return merge_.labels(); }
  std::unique_ptr<SampleIterator> samples() const override;

 private:
  static std::vector<SeriesSet*> pointers(const std::vector<std::unique_ptr<SeriesSet>>& sets);

  std::vector<std::unique_ptr<SeriesSet>> sets_;
  LabelMerge<SeriesSet> merge_;
};

}  // namespace promblock
