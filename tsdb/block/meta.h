#pragma once
// meta.json of a block, as Prometheus (and Thanos, in its `thanos` section)
// writes it. Unknown fields are kept so a block can be rewritten without
// losing what other tools put there.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace promblock {

struct BlockDesc {
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

struct BlockStats {
  uint64_t num_samples = 0;
  // Prometheus >= 3.6 splits the samples by kind (by chunk encoding).
  uint64_t num_float_samples = 0;
  uint64_t num_histogram_samples = 0;
  uint64_t num_series = 0;
  uint64_t num_chunks = 0;
  uint64_t num_tombstones = 0;
};

struct BlockMeta {
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;  // exclusive: last sample + 1 ms
  BlockStats stats;
  int level = 1;
  std::vector<std::string> sources;
  std::vector<BlockDesc> parents;
  bool deletable = false;
  bool failed = false;
  std::vector<std::string> hints;  // sorted, as Prometheus keeps them
  int version = 1;
  // The Thanos extension (labels, downsample, source, files, ...), verbatim;
  // null when the block has none.
  nlohmann::ordered_json thanos;
  // Top-level fields this version does not know, kept for rewriting.
  nlohmann::ordered_json unknown = nlohmann::ordered_json::object();

  // Fields of "stats" and "compaction" this version does not know.
  nlohmann::ordered_json unknown_stats = nlohmann::ordered_json::object();
  nlohmann::ordered_json unknown_compaction = nlohmann::ordered_json::object();

  // thanos.labels (the external labels), empty when there are none.
  std::map<std::string, std::string> external_labels() const;
  bool has_hint(std::string_view hint) const;
};

// Compaction hints of Prometheus 3.x (tsdb/block.go). Blocks made only of
// stale series or of caller-selected series are partial views of their
// range: Prometheus never compacts them together with other blocks, and
// keeps the hint on what it makes of them. from-out-of-order stays only
// where every input had it.
inline constexpr std::string_view kHintFromOutOfOrder = "from-out-of-order";
inline constexpr std::string_view kHintFromStaleSeries = "from-stale-series";
inline constexpr std::string_view kHintFromSelectedSeries = "from-selected-series";

// Which blocks Prometheus keeps apart: 0 for ordinary blocks, 1 for
// from-stale-series, 2 for from-selected-series.
int compaction_class(const BlockMeta& meta);
// The name of a class for messages ("ordinary", or the hint).
std::string_view compaction_class_name(int cls);
// The hints of a block made from `inputs`, as Prometheus 3.14's
// CompactBlockMetas sets them.
std::vector<std::string> merged_hints(const std::vector<const BlockMeta*>& inputs);

// Gives a block without external labels (plain Prometheus) the labels a
// Thanos sidecar would have given it, in memory: a Thanos section with
// `labels`, as `--external-label` asks. Blocks that have external labels
// keep theirs. Nothing is written.
void assume_external_labels(BlockMeta& meta, const std::map<std::string, std::string>& labels);

// Parses meta.json text; `path` only names the file in errors.
BlockMeta parse_meta(const std::string& text, const std::string& path);
// Reads <block_dir>/meta.json.
BlockMeta read_meta(const std::string& block_dir);
// Serializes like Prometheus (tab-indented, its field order and omissions).
std::string meta_to_json(const BlockMeta& meta);

}  // namespace promblock
