#pragma once
// Merges input blocks into one new block in an output directory: the
// vertical merge with replica deduplication behind `promblock merge`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/block/discover.h"
#include "tsdb/merge/series_merger.h"

namespace promblock::merge {

// Part `index` (0-based) of `count`: of series by hash, or of jobs.
struct SeriesShard {
  uint64_t index = 0;
  uint64_t count = 1;
  bool operator==(const SeriesShard&) const = default;
};

// The external label of split output blocks, valued "<index+1>_of_<count>"
// (as Mimir's split-and-merge compactor names it).
inline constexpr const char* kShardLabel = "__compactor_shard_id__";
inline std::string shard_label_value(const SeriesShard& s) {
  return std::to_string(s.index + 1) + "_of_" + std::to_string(s.count);
}

struct MergeOptions {
  std::string out_dir;
  std::vector<std::string> replica_labels;
  DedupMode mode = DedupMode::kPenalty;
  size_t threads = 0;  // 0: one per core
  // Called on the calling thread as output series are written: input series
  // (copies) merged so far, of all, and chunk bytes written so far.
  std::function<void(uint64_t done, uint64_t total, uint64_t bytes)> progress;
  // The output's ULID; empty: a new one. (Compaction records it in its
  // group lock before the temporary directory exists.)
  std::string ulid;
  // Called right before the block is published; throwing stops the merge
  // and leaves nothing behind.
  std::function<void()> before_commit;
  // Split compaction: keep only the series whose labels' hash mod count is
  // index, and give the output the shard label (compact/sharding.h). The
  // inputs' shard labels are then not part of their group.
  std::optional<SeriesShard> shard;
  // Encodings of re-encoded chunks (merge/rechunk.h).
  OutputEncodings encodings = OutputEncodings::kKeep;
  // Give the output a Thanos section even when no input has one: blocks
  // bound for a bucket need it for Thanos to group and serve them.
  bool thanos_section = false;
};

struct MergeInput {
  FoundBlock block;
  uint32_t source_index = 0;  // position of the source argument it came from
  // Inputs dedup within their cluster only (SeriesCopy::cluster).
  uint32_t cluster = 0;
  // The block may share its chunk segments with the output (hard links):
  // it is the caller's own (a compaction's block in its output directory).
  // Done only where every chunk of it goes into the output unchanged.
  bool may_link = false;
};

struct MergeResult {
  std::string ulid;
  std::string path;
  std::vector<std::string> inputs;
  uint64_t series_in = 0, series_out = 0;
  uint64_t samples_in = 0, samples_out = 0;
  uint64_t chunks_in = 0, chunks_out = 0;
  uint64_t chunks_copied = 0, chunks_reencoded = 0;
  // Of the copied: chunks left where they were, in input segments linked
  // into the output instead of written again.
  uint64_t segments_linked = 0, chunks_linked = 0;
  // Of the linked: chunks not read at all (their block's stats count them).
  uint64_t chunks_unread = 0;
};

// Throws Error when the inputs belong to different groups (external labels
// differ beyond replica labels). Cheap: meta.json facts only.
// `ignore_label`, when not empty, is left out of the groups too.
void check_one_group(const std::vector<MergeInput>& inputs,
                     const std::vector<std::string>& replica_labels,
                     const std::string& ignore_label = "");

// The inputs' blocks opened as merge_blocks opens them: side by side where
// there are many; of those that fail, the first in order is thrown. A
// caller may open a merge's inputs ahead, while another merge commits.
using OpenedInputs = std::vector<std::unique_ptr<BlockReader>>;
OpenedInputs open_input_blocks(const std::vector<MergeInput>& inputs);

// Writes the merged block into opts.out_dir (atomically: tmp dir, fsync,
// rename). Throws Error when inputs belong to different groups (external
// labels differ beyond replica labels) or any input is unreadable.
// `opened`, when not empty, are the inputs open_input_blocks opened.
MergeResult merge_blocks(const std::vector<MergeInput>& inputs, const MergeOptions& opts,
                         OpenedInputs opened = {});

}  // namespace promblock::merge
