#pragma once
// A block's series in the order of their output labels. Where the output
// labels equal the stored ones (the usual case) the index order is used as
// it is; where replica labels are removed or added, the series refs are
// re-sorted by their new labels (refs only, no chunk data).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/merge/series_merger.h"

namespace promblock::merge {

class SeriesStream {
 public:
  SeriesStream(const BlockReader& block, uint32_t source_index, const ReplicaRules& rules,
               DedupMode mode);
  bool next();
  const Labels& labels() const { return current_.labels; }
  uint32_t ref() const { return current_.ref; }
  uint32_t replica_rank() const { return current_.rank; }
  const BlockReader& block() const { return block_; }
  uint64_t series_count() const { return series_count_; }

 private:
  struct Entry {
    Labels labels;
    uint32_t ref = 0;
    uint32_t rank = 0;
  };
  Labels output_labels(const Labels& stored) const;

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
  std::vector<Entry> sorted_;  // when relabeling
  size_t next_sorted_ = 0;
  Entry current_;
  std::vector<index::ChunkMeta> scratch_;
  uint64_t series_count_ = 0;
};

}  // namespace promblock::merge
