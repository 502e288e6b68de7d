#pragma once
// promblock backup: the complete blocks of a source as one zstd-compressed
// tar stream. Layout (what restore relies on):
//   for each block, in ULID order:
//     <ULID>/  <ULID>/chunks/  <ULID>/chunks/000001 ...  <ULID>/index
//     [<ULID>/tombstones] [<ULID>/no-compact-mark.json]  <ULID>/meta.json
//     -- end of a zstd frame --
//   end-of-archive marker, in a frame of its own.
// meta.json last tells a reader the block is complete; a frame per block
// lets a reader of a damaged stream keep every block before the damage.
// Files are streamed through one 1 MiB buffer: memory does not grow with
// block sizes.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/archive/byte_stream.h"
#include "tsdb/block/discover.h"

namespace promblock::archive {

using Notice = std::function<void(const std::string&)>;

struct BackupFilter {
  std::optional<std::string> after_ulid;  // ULID > this
  std::optional<int64_t> after_time_ms;   // maxTime > this
  int min_level = 0;                      // compaction level >= this
};

// A lower bound on the blocks to back up: a ULID, else a time as
// parse_time_ms takes it. Throws UsageError "ARG: why"; the caller names
// where ARG came from.
void parse_since(std::string_view arg, BackupFilter& filter);

// Whether a backup takes a block with this meta.json, named `ulid` (its
// directory or object prefix), with or without a deletion mark.
bool backup_takes(const BlockMeta& meta, const std::string& ulid, bool deletion_marked,
                  const BackupFilter& filter);

// The blocks of `source` a backup takes: complete (discover_blocks), not
// marked for deletion, passing `filter`; in ULID order.
std::vector<FoundBlock> select_backup_blocks(const std::string& source, const BackupFilter& filter);

struct BackupResult {
  size_t blocks = 0;           // blocks written
  uint64_t file_bytes = 0;     // bytes of their files
  uint64_t archive_bytes = 0;  // bytes of the tar stream
  uint64_t compressed_bytes = 0;
  size_t failed = 0;  // blocks left out because they are incomplete
};

// Told, as the work goes on, how many of the blocks are done (written or
// left out) and how many bytes of block files have been read: often (for
// every MiB), so a receiver that draws something should throttle.
using BackupProgress = std::function<void(size_t blocks_done, uint64_t file_bytes)>;

// Writes `blocks` to `out`. A block deleted (or marked for deletion) since
// it was selected is left out with a notice; one missing its index or
// chunks/ is left out with a notice and counted in `failed`. Throws Error
// when a file cannot be read or `out` cannot be written.
BackupResult write_backup(const std::vector<FoundBlock>& blocks, ByteSink& out, int zstd_level,
                          const Notice& notice, const BackupProgress& progress = {});

}  // namespace promblock::archive
