#pragma once
// A stable sort for what a merge sorts per series: the chunks of its copies,
// which come as stretches already in order (each copy's chunks are). A
// replica pair's are two stretches, merged; a level's copies of consecutive
// blocks of two replicas are dozens, each out of order only against the
// other replica's copy of the same block, so each element moves back a few
// places at most, as in an insertion sort. std::stable_sort allocated and
// merged a buffer for every series there (1 % of a fortnight's CPU).
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace promblock::merge {

// Sorts v as std::stable_sort(v, before) would. `run_ends` and `merged`
// are scratch, kept by the caller so that their memory is reused.
template <typename T, typename Before>
void stable_sort_stretches(std::vector<T>& v, Before before, std::vector<size_t>& run_ends,
                           std::vector<T>& merged) {
  run_ends.clear();
  for (size_t i = 1; i < v.size(); ++i)
    if (before(v[i], v[i - 1])) run_ends.push_back(i);
  if (run_ends.empty()) return;
  run_ends.push_back(v.size());
  constexpr size_t kMaxMergedStretches = 4;
  if (run_ends.size() <= kMaxMergedStretches) {
    for (size_t k = 1; k < run_ends.size(); ++k) {
      const auto begin = v.begin(), done = begin + std::ptrdiff_t(run_ends[k - 1]),
                 end = begin + std::ptrdiff_t(run_ends[k]);
      merged.clear();
      std::merge(begin, done, done, end, std::back_inserter(merged), before);
      std::copy(merged.begin(), merged.end(), begin);
    }
    return;
  }
  // An insertion sort moves an element only past ones it goes strictly
  // before, so equal ones keep their order, also where it stops midway:
  // past a few moves per element it is the wrong sort, and the stable sort
  // takes over from there with the same result.
  const size_t budget = 8 * v.size();
  size_t moves = 0;
  for (size_t i = run_ends.front(); i < v.size(); ++i) {
    if (!before(v[i], v[i - 1])) continue;
    T x = std::move(v[i]);
    size_t j = i;
    do {
      v[j] = std::move(v[j - 1]);
      --j;
    } while (j > 0 && before(x, v[j - 1]) && ++moves <= budget);
    v[j] = std::move(x);
    if (moves > budget) {
      std::stable_sort(v.begin(), v.end(), before);
      return;
    }
  }
}

}  // namespace promblock::merge
