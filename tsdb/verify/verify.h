#pragma once
// promblock verify: checks one block (meta.json, index, chunk segments,
// tombstones) and reports every problem it finds to a Report, going on
// wherever the rest of the block can still be checked. Reads only; the
// block is never changed. See man/promblock-verify.1 for the list of checks.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tsdb/block/meta.h"
#include "tsdb/verify/report.h"

namespace promblock::verify {

struct Options {
  // Decode every chunk: samples in time order, first/last sample at the
  // chunk's min/max time, sample counts from the data.
  bool deep = false;
};

struct BlockResult {
  std::string ulid;               // from meta.json, else the directory name
  std::optional<BlockMeta> meta;  // empty when meta.json is unreadable
};

// Checks the block in `dir`. Never throws for damage in the block: every
// failure becomes a problem in `report` (report.finish() is left to the
// caller).
BlockResult verify_block(const std::string& dir, const Options& opt, Report& report);

// A block's time range, for the overlap check.
struct BlockRange {
  std::string group;  // blocks overlap only within a group
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;  // exclusive
};

// Pairs (earlier, later) of indices into `blocks` whose ranges overlap and
// that are in the same group; "earlier" starts first (ties: lower index).
std::vector<std::pair<size_t, size_t>> find_overlaps(std::span<const BlockRange> blocks);

}  // namespace promblock::verify
