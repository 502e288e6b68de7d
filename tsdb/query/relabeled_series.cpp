#include "tsdb/query/relabeled_series.h"

#include <algorithm>

namespace promblock {

std::vector<RelabeledSeries> sort_relabeled(const index::IndexReader& index,
                                            const roaring::Roaring& refs, const Relabel& relabel) {
  std::vector<RelabeledSeries> out;
  out.reserve(refs.cardinality());
  Labels stored;
  std::vector<index::ChunkMeta> scratch;
  for (uint32_t ref : refs) {
    index.series(ref, stored, scratch);
    auto& s = out.emplace_back();
    s.ref = ref;
    s.tag = relabel(ref, stored, s.labels);
  }
  std::stable_sort(out.begin(), out.end(), [](const RelabeledSeries& a, const RelabeledSeries& b) {
    return labels_less(a.labels, b.labels);
  });
  return out;
}

}  // namespace promblock
