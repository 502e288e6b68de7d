#pragma once
// meta.json of a block, as Prometheus (and Thanos, in its `thanos` section)
// writes it. Unknown fields are kept so a block can be rewritten without
// losing what other tools put there.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace promblock {

struct BlockDesc {
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

struct BlockStats {
  uint64_t num_samples = 0;
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
  std::vector<std::string> hints;
  int version = 1;
  // The Thanos extension (labels, downsample, source, files, ...), verbatim;
  // null when the block has none.
  nlohmann::ordered_json thanos;
  // Top-level fields this version does not know, kept for rewriting.
  nlohmann::ordered_json unknown = nlohmann::ordered_json::object();

  // thanos.labels (the external labels), empty when there are none.
  std::map<std::string, std::string> external_labels() const;
};

// Parses meta.json text; `path` only names the file in errors.
BlockMeta parse_meta(const std::string& text, const std::string& path);
// Reads <block_dir>/meta.json.
BlockMeta read_meta(const std::string& block_dir);
// Serializes like Prometheus (tab-indented, its field order and omissions).
std::string meta_to_json(const BlockMeta& meta);

}  // namespace promblock
