#pragma once
// A block's series in the order of their output labels. Where the output
// labels equal the stored ones (the usual case) the index order is used as
// it is; where replica labels are removed or added, the series refs are
// re-sorted by their new labels (refs only, no chunk data).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "index/series_cursor.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/merge/series_merger.h"
#include "tsdb/query/relabeled_series.h"

namespace promblock::merge {

class SeriesStream {
 public:
  SeriesStream(const BlockReader& block, uint32_t source_index, const ReplicaRules& rules,
               DedupMode mode);
  SeriesStream(const SeriesStream&) = delete;  // at_ may point into the object
  SeriesStream& operator=(const SeriesStream&) = delete;
  bool next();
  const Labels& labels() const { return at_->labels; }
  uint32_t ref() const { return at_->ref; }
  uint32_t replica_rank() const { return at_->tag; }
  const BlockReader& block() const { return block_; }
  // The chunk metas of the series positioned on, into `out`: those read
  // with its labels where it was read in index order (not read twice).
  void chunks(std::vector<index::ChunkMeta>& out, Labels& scratch) const;
  // The ref of the first chunk of the series positioned on, where its
  // chunk metas were read already (in index order); else 0.
  uint64_t first_chunk_ref() const {
    return !relabel_ && !chunks_.empty() ? chunks_.front().ref : 0;
  }
  uint64_t series_count() const { return series_count_; }

 private:
  void output_labels(const Labels& stored, Labels& out) const;

  const BlockReader& block_;
  uint32_t source_index_;
  const ReplicaRules& rules_;
  DedupMode mode_;
  std::string external_key_;
  Labels added_;  // external replica labels added to series (mode none)
  bool relabel_ = false;
  std::optional<uint32_t> fixed_rank_;

  roaring::Roaring postings_;
  roaring::RoaringSetBitForwardIterator it_, end_;
  bool started_ = false;
  std::optional<RelabeledSeriesStream> sorted_;  // when relabeling
  RelabeledSeries current_;                      // when reading in index order
  const RelabeledSeries* at_ = &current_;        // the series positioned on
  std::vector<index::ChunkMeta> chunks_;         // of current_
  index::SeriesCursor cursor_;                   // reads in index order
  uint64_t series_count_ = 0;
};

}  // namespace promblock::merge
