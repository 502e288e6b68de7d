#pragma once
// The facts `promtool tsdb analyze` (Prometheus 2.42) prints for one block,
// computed the way it computes them, plus what the chunks of each metric
// name cost on disk (read from chunk lengths and headers, never decoded).
//
// promtool's numbers, from the index only:
//   - series: meta.json's numSeries;
//   - label names, and per name its values and their total length: the
//     index's label indices (with matchers: those of the matching series);
//   - postings: label pairs carried by at least one series; postings
//     entries: label pairs summed over series;
//   - churn: per series, the part of the block's range its chunks do not
//     cover, maxTime - minTime - (last chunk's max time - first chunk's
//     min time) in ms (unsigned, as Go computes it); summed per label pair
//     and per label name, then divided by the block's duration and cut to
//     an integer: "how many whole series' worth of the block's range went
//     uncovered".
// Top lists are sorted by count, highest first; ties (which promtool leaves
// in Go's map order, i.e. random) are broken by label name, then value.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "index/format.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/model/selector.h"

namespace promblock::analyze {

// One line of a top list: a label name (value empty) or a label pair.
struct Ranked {
  std::string name;
  std::string value;
  uint64_t count = 0;
  bool operator==(const Ranked&) const = default;
};

// What the chunks of one metric name hold (over the analyzed series).
struct MetricStats {
  std::string name;  // the __name__ value; empty for series without one
  uint64_t series = 0;
  uint64_t chunks = 0;
  uint64_t samples = 0;  // from the chunks' sample-count headers
  uint64_t bytes = 0;    // chunk payload (encoded samples, without framing)
  double bytes_per_sample() const { return samples ? double(bytes) / double(samples) : 0.0; }
};

struct BlockAnalysis {
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint64_t series = 0;          // meta.json numSeries, as promtool prints it
  bool matched = false;         // a series selector was given
  uint64_t matched_series = 0;  // series analyzed (all of the index without a selector)
  uint64_t label_names = 0;
  uint64_t postings = 0;          // unique label pairs
  uint64_t postings_entries = 0;  // total label pairs
  std::vector<Ranked> churn_label_pairs;
  std::vector<Ranked> churn_label_names;
  std::vector<Ranked> common_label_pairs;
  std::vector<Ranked> label_value_lengths;
  std::vector<Ranked> label_cardinality;
  std::vector<Ranked> metric_cardinality;  // name = "__name__", value = metric name
  std::vector<MetricStats> metrics;        // by bytes, highest first
  MetricStats total;                       // over every analyzed series (name empty)
};

struct AnalyzeOptions {
  size_t limit = 20;              // lines per top list
  std::vector<Matcher> matchers;  // empty: every series
};

// Reads the index (and chunk headers) of an open block.
BlockAnalysis analyze_block(const BlockReader& block, const AnalyzeOptions& opts);

// --- The pieces, exposed for tests.

// The ms of [min_time, max_time) a series with these (time-ordered) chunks
// does not cover, in uint64 arithmetic as promtool (wraps where a chunk lies
// outside the block). A series without chunks covers nothing.
uint64_t uncovered_ms(int64_t min_time, int64_t max_time, std::span<const index::ChunkMeta> chunks);

// promtool's uint64(float64(sum) / float64(max_time - min_time)); 0 for a
// block of zero or negative duration (where Go's result is undefined).
uint64_t churn_value(uint64_t uncovered_sum, int64_t min_time, int64_t max_time);

// Sorts highest count first, ties by name then value, and keeps `limit`.
void rank(std::vector<Ranked>& entries, size_t limit);

// Go's time.Duration.String() of a duration given in ms ("1h12m0.774s",
// "500ms", "0s").
std::string go_duration(int64_t ms);

}  // namespace promblock::analyze
