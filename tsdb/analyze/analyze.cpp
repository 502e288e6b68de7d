#include "tsdb/analyze/analyze.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "tsdb/base/error.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/query/postings_match.h"

namespace promblock::analyze {

namespace {

// A top-list candidate whose strings point into the index's memory map:
// lists can hold every label pair of a block, so nothing is copied until
// the top entries are known.
struct View {
  std::string_view name;
  std::string_view value;
  uint64_t count;
};

bool ranks_before(const View& a, const View& b) {
  if (a.count != b.count) return a.count > b.count;
  if (a.name != b.name) return a.name < b.name;
  return a.value < b.value;
}

std::vector<Ranked> top(std::vector<View>& views, size_t limit) {
  size_t n = std::min(limit, views.size());
  std::partial_sort(views.begin(), views.begin() + ptrdiff_t(n), views.end(), ranks_before);
  std::vector<Ranked> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back({std::string(views[i].name), std::string(views[i].value), views[i].count});
  return out;
}

// Metric names are looked up by string_view without building a string.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using MetricMap = std::unordered_map<std::string, MetricStats, NameHash, std::equal_to<>>;

}  // namespace

uint64_t uncovered_ms(int64_t min_time, int64_t max_time,
                      std::span<const index::ChunkMeta> chunks) {
  uint64_t range = uint64_t(max_time) - uint64_t(min_time);
  if (chunks.empty()) return range;
  return range - (uint64_t(chunks.back().max_time) - uint64_t(chunks.front().min_time));
}

uint64_t churn_value(uint64_t uncovered_sum, int64_t min_time, int64_t max_time) {
  if (max_time <= min_time) return 0;
  double v = double(uncovered_sum) / double(max_time - min_time);
  // Go converts out-of-range floats to 1<<63 on amd64; sums never get there.
  if (!(v < 18446744073709551616.0)) return uint64_t(1) << 63;
  return uint64_t(v);
}

void rank(std::vector<Ranked>& entries, size_t limit) {
  std::vector<View> views;
  views.reserve(entries.size());
  for (const auto& e : entries) views.push_back({e.name, e.value, e.count});
  entries = top(views, limit);
}

std::string go_duration(int64_t ms) {
  if (ms == 0) return "0s";
  // As Go's Duration.String, from the magnitude in ms (no sub-ms digits).
  uint64_t u = ms < 0 ? 0 - uint64_t(ms) : uint64_t(ms);
  std::string out = ms < 0 ? "-" : "";
  if (u < 1000) return out + std::to_string(u) + "ms";
  uint64_t secs = u / 1000, frac = u % 1000;
  std::string s = std::to_string(secs % 60);
  if (frac) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03u", unsigned(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  s += "s";
  uint64_t mins = secs / 60;
  if (mins == 0) return out + s;
  uint64_t hours = mins / 60;
  std::string m = std::to_string(mins % 60) + "m";
  if (hours == 0) return out + m + s;
  return out + std::to_string(hours) + "h" + m + s;
}

namespace {

// What pass 1 over the series entries yields: each series' uncovered time,
// in ref order for pass 2, and its chunks' cost per metric name.
struct SeriesPass {
  std::vector<uint32_t> refs;
  std::vector<uint64_t> uncovered;
  MetricMap metrics;
};

SeriesPass series_pass(const BlockReader& block, const roaring::Roaring& selected) {
  const auto& ix = block.index();
  const auto& meta = block.meta();
  SeriesPass out;
  out.refs.reserve(selected.cardinality());
  out.uncovered.reserve(selected.cardinality());
  MetricStats* current = nullptr;  // series come sorted: names repeat in runs
  Labels labels;
  std::vector<index::ChunkMeta> chunks;
  for (uint32_t ref : selected) {
    ix.series(ref, labels, chunks);
    out.refs.push_back(ref);
    out.uncovered.push_back(uncovered_ms(meta.min_time, meta.max_time, chunks));
    std::string_view name = label_value(labels, "__name__");
    if (!current || current->name != name) {
      auto it = out.metrics.find(name);
      if (it == out.metrics.end()) {
        it = out.metrics.emplace(std::string(name), MetricStats{}).first;
        it->second.name = std::string(name);
      }
      current = &it->second;
    }
    current->series += 1;
    current->chunks += chunks.size();
    for (const auto& c : chunks) {
      auto chunk = block.chunks().chunk(c.ref);
      current->bytes += chunk.data.size();
      current->samples += chunkenc::header_sample_count(chunk.encoding, chunk.data);
    }
  }
  return out;
}

// Pass 2, over the postings lists: per label pair its series and their
// uncovered time; per label name its values; into a's counts and top lists.
void postings_pass(const BlockReader& block, const roaring::Roaring& selected,
                   const SeriesPass& series, size_t limit, BlockAnalysis& a) {
  const auto& ix = block.index();
  const auto& meta = block.meta();
  const auto& refs = series.refs;
  std::vector<View> churn_pairs, churn_names, common_pairs, value_lengths, cardinality, names;
  for (std::string_view name : ix.label_names()) {
    uint64_t name_uncovered = 0, value_bytes = 0, values = 0;
    ix.for_each_postings(name, [&](std::string_view value, const roaring::Roaring& list) {
      roaring::Roaring matched;
      const roaring::Roaring* p = &list;
      if (a.matched) {
        matched = list & selected;
        p = &matched;
      }
      uint64_t count = p->cardinality();
      if (!a.matched) ++values, value_bytes += value.size();
      if (count == 0) return;
      if (a.matched) ++values, value_bytes += value.size();
      uint64_t sum = 0;
      auto from = refs.begin();
      for (uint32_t ref : *p) {
        from = std::lower_bound(from, refs.end(), ref);
        if (from == refs.end() || *from != ref)
          fail(std::string(ix.path()), "postings of " + std::string(name) + "=\"" +
                                           std::string(value) + "\" list series ref " +
                                           std::to_string(ref) + ", which is not a series");
        sum += series.uncovered[size_t(from - refs.begin())];
      }
      name_uncovered += sum;
      a.postings += 1;
      a.postings_entries += count;
      churn_pairs.push_back({name, value, churn_value(sum, meta.min_time, meta.max_time)});
      common_pairs.push_back({name, value, count});
      if (name == "__name__") names.push_back({name, value, count});
    });
    if (values == 0) continue;  // no selected series has this label
    a.label_names += 1;
    churn_names.push_back({name, {}, churn_value(name_uncovered, meta.min_time, meta.max_time)});
    value_lengths.push_back({name, {}, value_bytes});
    cardinality.push_back({name, {}, values});
  }
  a.churn_label_pairs = top(churn_pairs, limit);
  a.churn_label_names = top(churn_names, limit);
  a.common_label_pairs = top(common_pairs, limit);
  a.label_value_lengths = top(value_lengths, limit);
  a.label_cardinality = top(cardinality, limit);
  a.metric_cardinality = top(names, limit);
}

// The `limit` metrics with the most chunk bytes; `total` sums all of them.
std::vector<MetricStats> top_metrics(MetricMap& metrics, size_t limit, MetricStats& total) {
  std::vector<MetricStats> all;
  all.reserve(metrics.size());
  for (auto& [_, m] : metrics) {
    total.series += m.series;
    total.chunks += m.chunks;
    total.samples += m.samples;
    total.bytes += m.bytes;
    all.push_back(std::move(m));
  }
  size_t n = std::min(limit, all.size());
  std::partial_sort(all.begin(), all.begin() + ptrdiff_t(n), all.end(),
                    [](const MetricStats& x, const MetricStats& y) {
                      if (x.bytes != y.bytes) return x.bytes > y.bytes;
                      return x.name < y.name;
                    });
  all.resize(n);
  return all;
}

}  // namespace

BlockAnalysis analyze_block(const BlockReader& block, const AnalyzeOptions& opts) {
  const auto& ix = block.index();
  const auto& meta = block.meta();
  BlockAnalysis a;
  a.ulid = meta.ulid;
  a.min_time = meta.min_time;
  a.max_time = meta.max_time;
  a.series = meta.stats.num_series;
  a.matched = !opts.matchers.empty();
  roaring::Roaring selected =
      a.matched ? postings_for_matchers(ix, opts.matchers) : ix.all_postings();
  a.matched_series = selected.cardinality();
  SeriesPass series = series_pass(block, selected);
  postings_pass(block, selected, series, opts.limit, a);
  a.metrics = top_metrics(series.metrics, opts.limit, a.total);
  return a;
}

}  // namespace promblock::analyze
