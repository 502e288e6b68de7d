#include "tsdb/query/sample_iterator.h"

namespace promblock {

ChainSampleIterator::ChainSampleIterator(std::vector<std::unique_ptr<SampleIterator>> children)
    : children_(std::move(children)), has_(children_.size(), false) {}

bool ChainSampleIterator::next() {
  if (!started_) {
    for (size_t i = 0; i < children_.size(); ++i) has_[i] = children_[i]->next();
    started_ = true;
  }
  // Few children (one per overlapping block): a linear scan beats a heap.
  int best = -1;
  for (size_t i = 0; i < children_.size(); ++i)
    if (has_[i] && (best < 0 || children_[i]->t() < children_[best]->t())) best = int(i);
  if (best < 0) return false;
  t_ = children_[best]->t();
  v_ = children_[best]->v();
  const chunkenc::HistogramSample* h = children_[best]->histogram();
  is_histogram_ = h != nullptr;
  if (h) histogram_ = *h;
  const chunkenc::FloatHistogramSample* fh = children_[best]->float_histogram();
  is_float_histogram_ = fh != nullptr;
  if (fh) float_histogram_ = *fh;
  for (size_t i = 0; i < children_.size(); ++i)
    while (has_[i] && children_[i]->t() == t_) has_[i] = children_[i]->next();
  return true;
}

}  // namespace promblock
