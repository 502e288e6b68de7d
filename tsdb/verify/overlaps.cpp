#include <algorithm>
#include <numeric>

#include "tsdb/verify/verify.h"

namespace promblock::verify {

std::vector<std::pair<size_t, size_t>> find_overlaps(std::span<const BlockRange> blocks) {
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (blocks[a].group != blocks[b].group) return blocks[a].group < blocks[b].group;
    return blocks[a].min_time < blocks[b].min_time;
  });
  std::vector<std::pair<size_t, size_t>> out;
  // Sweep each group in order of min time, keeping the blocks still open.
  std::vector<size_t> open;
  for (size_t k = 0; k < order.size(); ++k) {
    const BlockRange& b = blocks[order[k]];
    if (k > 0 && blocks[order[k - 1]].group != b.group) open.clear();
    std::erase_if(open, [&](size_t i) { return blocks[i].max_time <= b.min_time; });
    for (size_t i : open)
      if (b.max_time > b.min_time && blocks[i].max_time > blocks[i].min_time)
        out.emplace_back(i, order[k]);
    open.push_back(order[k]);
  }
  return out;
}

}  // namespace promblock::verify
