#pragma once
// Finds the blocks of a source: a single block dir, or a directory of
// blocks (Prometheus data dir, Thanos filesystem bucket, any folder).
// Only complete blocks are returned: a ULID-named directory with a readable
// meta.json. wal/, chunks_head/, *.tmp-for-* and other entries are skipped.
#include <string>
#include <vector>

#include "tsdb/block/meta.h"

namespace promblock {

struct FoundBlock {
  std::string dir;     // the block's directory
  std::string source;  // the source argument it was found under
  BlockMeta meta;
  bool deletion_marked = false;    // deletion-mark.json present (Thanos)
  bool no_compact_marked = false;  // no-compact-mark.json present (Thanos)
};

// Blocks of one source, sorted by (minTime, ULID). Throws Error when the
// source does not exist or a block's meta.json is unreadable.
std::vector<FoundBlock> discover_blocks(const std::string& source);

// Blocks of several sources, in the order given, each source sorted.
std::vector<FoundBlock> discover_blocks(const std::vector<std::string>& sources);

}  // namespace promblock
