#pragma once
// Small blocks for the compaction tests: one series each, with the
// external labels, sources and ULID time a test asks for.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/meta.h"
#include "tsdb/compact/compactor.h"

namespace promblock::testing {

inline constexpr int64_t kHour = 3600 * 1000;
// "Now" for the compaction tests: an hour ahead of the blocks' ULID times,
// so that the default consistency delay of 30m has passed.
inline constexpr int64_t kUlidTime = 1'700'000'000'000;
inline constexpr int64_t kNow = kUlidTime + kHour;

struct BlockSpec {
  std::map<std::string, std::string> external_labels{};
  int64_t min_time = 0, max_time = 2 * kHour;
  std::vector<std::string> sources{};  // empty: the block is its own source
  int64_t ulid_time = kUlidTime;
  std::string series_value = "1";
};

// Writes the block under `parent`; returns its ULID.
inline std::string write_test_block(const std::string& parent, const BlockSpec& spec) {
  BlockMeta meta;
  meta.ulid = new_ulid(spec.ulid_time);
  meta.min_time = spec.min_time;
  meta.max_time = spec.max_time;
  meta.sources = spec.sources;
  if (!spec.external_labels.empty()) {
    meta.thanos = nlohmann::ordered_json::object();
    meta.thanos["labels"] = spec.external_labels;
  }
  std::string ulid = meta.ulid;
  write_block(parent,
              {{{{"__name__", "up"}, {"n", spec.series_value}},
                {samples_at({spec.min_time, spec.max_time - 1})}}},
              std::move(meta));
  return ulid;
}

// Options for compacting two source dirs, "a" and "b" (created), into "out"
// (not created) under `tmp`, with "replica" as the replica label.
inline compact::CompactOptions two_source_options(const TempDir& tmp) {
  compact::CompactOptions o;
  o.sources = {tmp.file("a"), tmp.file("b")};
  o.out_dir = tmp.file("out");
  o.replica_labels = {"replica"};
  for (const auto& d : o.sources) std::filesystem::create_directories(d);
  return o;
}

}  // namespace promblock::testing
