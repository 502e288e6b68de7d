#pragma once
// Rewrites one block into a new one: series matched by any deletion
// selector left out, some label names removed from every series. Series
// that become equal when labels are removed are merged with chain
// semantics (the merge engine's SeriesMerger in kChain mode). The input is
// only read; the output is written atomically by BlockWriter with a new
// ULID and the input's time range.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tsdb/base/error.h"
#include "tsdb/block/meta.h"
#include "tsdb/model/labels.h"
#include "tsdb/model/selector.h"

namespace promblock::rewrite {

struct Deletion {
  std::string text;               // the selector as given (for messages)
  std::vector<Matcher> matchers;  // parse_selector(text)
};

struct RewriteOptions {
  std::string out_dir;
  std::vector<Deletion> deletions;
  std::vector<std::string> drop_labels;
};

struct RewriteResult {
  bool written = false;  // false when nothing was left to write
  std::string ulid;
  std::string path;
  std::string input;  // the input block's ULID
  uint64_t series_in = 0, series_out = 0;
  uint64_t series_deleted = 0;  // matched by a deletion selector
  uint64_t series_merged = 0;   // input series folded into another by dropping labels
  uint64_t samples_in = 0, samples_out = 0;
  uint64_t chunks_in = 0, chunks_out = 0;
  uint64_t chunks_copied = 0, chunks_reencoded = 0;
};

// Thrown when removing the dropped labels leaves a series with none; it
// carries the facts, so that a command can word the message its own way.
class NoLabelsLeft : public Error {
 public:
  NoLabelsLeft(std::string file, Labels series);
  const std::string& file() const { return file_; }
  const Labels& series() const { return series_; }

 private:
  std::string file_;
  Labels series_;
};

// Throws UsageError for an unusable option (an empty label name),
// NoLabelsLeft, or Error for anything else the block or the output
// directory does wrong. The caller holds the DirLock on opts.out_dir.
RewriteResult rewrite_block(const std::string& block_dir, const RewriteOptions& opts);

// --- The pieces, exposed for tests.

// `labels` without the labels named in `drop` (which need not be sorted).
Labels drop_labels(const Labels& labels, const std::vector<std::string>& drop);

// The output's meta.json: the input's, with ULID and stats cleared, level
// and sources kept, parents = [input], and, where there is a Thanos
// section, a record of this rewrite appended to thanos.rewrites (as Thanos's
// metadata.Rewrite: sources, deletions_applied, relabels_applied) and
// thanos.source = "promblock"; BlockWriter fills thanos.files.
BlockMeta output_meta(const BlockMeta& input, const RewriteOptions& opts);

// One Thanos metadata.Rewrite object for this rewrite of `input`.
nlohmann::ordered_json thanos_rewrite_record(const BlockMeta& input, const RewriteOptions& opts);

}  // namespace promblock::rewrite
