#pragma once
// Merges input blocks into one new block in an output directory: the
// vertical merge with replica deduplication behind `promblock merge`.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tsdb/block/discover.h"
#include "tsdb/merge/series_merger.h"

namespace promblock::merge {

struct MergeOptions {
  std::string out_dir;
  std::vector<std::string> replica_labels;
  DedupMode mode = DedupMode::kPenalty;
  size_t threads = 0;  // 0: one per core
  // Called on the calling thread as output series are written: input series
  // (copies) merged so far, of all, and chunk bytes written so far.
  std::function<void(uint64_t done, uint64_t total, uint64_t bytes)> progress;
};

struct MergeInput {
  FoundBlock block;
  uint32_t source_index = 0;  // position of the source argument it came from
};

struct MergeResult {
  std::string ulid;
  std::string path;
  std::vector<std::string> inputs;
  uint64_t series_in = 0, series_out = 0;
  uint64_t samples_in = 0, samples_out = 0;
  uint64_t chunks_in = 0, chunks_out = 0;
  uint64_t chunks_copied = 0, chunks_reencoded = 0;
};

// Throws Error when the inputs belong to different groups (external labels
// differ beyond replica labels). Cheap: meta.json facts only.
void check_one_group(const std::vector<MergeInput>& inputs,
                     const std::vector<std::string>& replica_labels);

// Writes the merged block into opts.out_dir (atomically: tmp dir, fsync,
// rename). Throws Error when inputs belong to different groups (external
// labels differ beyond replica labels) or any input is unreadable.
MergeResult merge_blocks(const std::vector<MergeInput>& inputs, const MergeOptions& opts);

}  // namespace promblock::merge
