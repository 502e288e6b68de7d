#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "tsdb/merge/stretch_sort.h"

namespace promblock::merge {
namespace {

// A key to sort by and where the element started: equal keys must keep
// their order.
struct Item {
  int key = 0;
  int origin = 0;
  bool operator==(const Item&) const = default;
};

bool key_before(const Item& a, const Item& b) { return a.key < b.key; }

std::vector<Item> numbered(const std::vector<int>& keys) {
  std::vector<Item> v;
  for (size_t i = 0; i < keys.size(); ++i) v.push_back({keys[i], int(i)});
  return v;
}

void expect_stable_sorted(const std::vector<int>& keys) {
  auto got = numbered(keys);
  auto want = got;
  std::stable_sort(want.begin(), want.end(), key_before);
  std::vector<size_t> run_ends;
  std::vector<Item> merged;
  stable_sort_stretches(got, key_before, run_ends, merged);
  EXPECT_EQ(got, want);
}

// Stretches, each in order, of `len` keys in [0, range), some repeated.
std::vector<int> stretches(std::mt19937& rng, int count, int len, int range) {
  std::vector<int> keys;
  for (int s = 0; s < count; ++s) {
    std::vector<int> part(size_t(std::uniform_int_distribution<int>(0, len)(rng)));
    for (auto& k : part) k = std::uniform_int_distribution<int>(0, range)(rng);
    std::sort(part.begin(), part.end());
    keys.insert(keys.end(), part.begin(), part.end());
  }
  return keys;
}

TEST(StretchSort, SortsLikeAStableSortWhateverTheStretches) {
  std::mt19937 rng(7);
  expect_stable_sorted({});
  expect_stable_sorted({1});
  expect_stable_sorted({2, 1});
  for (int round = 0; round < 300; ++round) {
    // Two to four stretches are merged, more sorted by insertion.
    int count = 1 + round % 12;
    expect_stable_sorted(stretches(rng, count, 40, 1 + round % 50));
  }
}

TEST(StretchSort, ALevelsCopiesMoveAFewPlacesEach) {
  // Two replicas' copies of consecutive blocks, one after the other per
  // block: each block's pair overlaps, blocks follow one another.
  std::vector<int> keys;
  for (int block = 0; block < 24; ++block)
    for (int replica = 0; replica < 2; ++replica)
      for (int chunk = 0; chunk < 4; ++chunk)
        keys.push_back(block * 100 + chunk * 20 + replica * 7);
  expect_stable_sorted(keys);
}

TEST(StretchSort, FarOutOfOrderFallsBackToTheStableSort) {
  // Many stretches each spanning the whole range: an insertion sort would
  // move elements quadratically often; the result must not change.
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) expect_stable_sorted(stretches(rng, 30, 200, 5));
  std::vector<int> descending;
  for (int k = 500; k > 0; --k) descending.push_back(k / 3);
  expect_stable_sorted(descending);
}

}  // namespace
}  // namespace promblock::merge
