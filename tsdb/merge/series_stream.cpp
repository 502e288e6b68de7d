#include "tsdb/merge/series_stream.h"

#include <algorithm>

namespace promblock::merge {

SeriesStream::SeriesStream(const BlockReader& block, uint32_t source_index,
                           const ReplicaRules& rules, DedupMode mode)
    : block_(block),
      source_index_(source_index),
      rules_(rules),
      mode_(mode),
      external_key_(rules.external_key(block.meta())),
      postings_(block.index().all_postings()),
      it_(postings_.begin()),
      end_(postings_.end()),
      cursor_(block.index()) {
  series_count_ = postings_.cardinality();
  bool labels_in_series = false;
  for (const auto& l : rules_.labels())
    if (!block.index().label_values(l).empty()) labels_in_series = true;
  if (mode_ == DedupMode::kNone) {
    // Keeping replicas apart: a replica named only by an external label
    // gets that label on its series.
    auto ext = block.meta().external_labels();
    for (const auto& l : rules_.labels())
      if (auto e = ext.find(l); e != ext.end()) added_.push_back({l, e->second});
    std::sort(added_.begin(), added_.end(),
              [](const Label& a, const Label& b) { return a.name < b.name; });
    relabel_ = !added_.empty();
  } else {
    relabel_ = labels_in_series;  // removing them may change the order
  }
  // Without replica labels in its series, every series of the block has
  // the block's replica: rank it once.
  if (!external_key_.empty() || !labels_in_series)
    fixed_rank_ = rules_.rank(rules_.series_key(external_key_, Labels{}, source_index_));
  // The lookups are done; series are read with the cursor from here on.
  block.index().release_mapped();
  if (!relabel_) return;
  sorted_.emplace(
      sort_relabeled(block_.index(), postings_, [&](uint32_t, const Labels& stored, Labels& out) {
        output_labels(stored, out);
        return rules_.rank(rules_.series_key(external_key_, stored, source_index_));
      }));
}

void SeriesStream::output_labels(const Labels& stored, Labels& out) const {
  out.clear();
  if (mode_ == DedupMode::kNone) {
    // Merge the added labels in; a series' own value wins.
    size_t j = 0;
    for (const auto& l : stored) {
      while (j < added_.size() && added_[j].name < l.name) out.push_back(added_[j++]);
      if (j < added_.size() && added_[j].name == l.name) ++j;
      out.push_back(l);
    }
    while (j < added_.size()) out.push_back(added_[j++]);
    return;
  }
  for (const auto& l : stored)
    if (!rules_.is_replica_label(l.name)) out.push_back(l);
}

bool SeriesStream::next() {
  if (relabel_) {
    if (!sorted_->next()) return false;
    at_ = &sorted_->current();
    return true;
  }
  if (started_) ++it_;
  started_ = true;
  if (it_ == end_) return false;
  current_.ref = *it_;
  cursor_.series(current_.ref, current_.labels, chunks_);
  current_.tag =
      fixed_rank_ ? *fixed_rank_
                  : rules_.rank(rules_.series_key(external_key_, current_.labels, source_index_));
  return true;
}

void SeriesStream::chunks(std::vector<index::ChunkMeta>& out, Labels& scratch) const {
  if (relabel_)
    block_.index().series(ref(), scratch, out);
  else
    out = chunks_;
}

}  // namespace promblock::merge
