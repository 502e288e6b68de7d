#pragma once
// promblock restore: reads a backup stream (see backup.h) and installs its
// blocks in a directory, each one atomically and only after it checks out:
//   entries of a block are written to DIR/<ULID>.tmp-for-creation/; when
//   the block is complete (its meta.json has been read and its zstd frame
//   ended, or the next entry belongs to another block, or the archive
//   ends), it is verified as `promblock verify` does (without decoding samples),
//   fsynced and renamed to DIR/<ULID>.
// A block already in DIR is skipped (never overwritten). Entries that are
// not regular files <ULID>/<block file> or the directories <ULID>/,
// <ULID>/chunks/ are refused, and so is the block they are in (see
// entry_name.h). Nothing is ever written outside DIR. When the stream is
// damaged (zstd error, checksum, truncation), reading stops: the blocks
// installed before stay, the block being written is removed.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tsdb/archive/backup.h"
#include "tsdb/archive/byte_stream.h"

namespace promblock::archive {

struct RestoreResult {
  std::vector<std::string> installed;  // ULIDs, in stream order
  std::vector<std::string> skipped;    // already present in DIR
  size_t refused = 0;  // blocks refused (bad entry, failed check, incomplete) and stray entries
  uint64_t bytes = 0;  // bytes of the installed blocks' files
  std::string damage;  // why reading stopped early; empty when the stream was read whole

  bool ok() const { return refused == 0 && damage.empty(); }
};

// Told, as the stream is read, how many blocks of it are done (installed,
// skipped or refused) and how many bytes of the stream (compressed) have
// been read: often (for every MiB), so a receiver that draws something
// should throttle. A stream has no total: there is none to tell.
using RestoreProgress = std::function<void(size_t blocks_done, uint64_t stream_bytes)>;

// Takes the DirLock on `dir` (throws LockedError when another promblock
// holds it), removes temporary directories a failed run left there, then
// restores the zstd-compressed tar stream `in` (named `name` in messages).
// Problems with the stream or its blocks are reported to `notice` and in
// the result, not thrown; a failure to write into `dir` (disk full, I/O
// error) is thrown, after removing the block it was writing (blocks
// installed before it stay).
//
// With `elsewhere`, the blocks are bound for another place (a bucket) and
// `dir` is a scratch directory on the way: see RestoreDestination.
struct RestoreDestination;
RestoreResult restore_backup(ByteSource& in, const std::string& name, const std::string& dir,
                             const Notice& notice, const RestoreProgress& progress = {},
                             const RestoreDestination* elsewhere = nullptr);

// A destination other than the directory blocks are checked in. A block
// `present` says it has is skipped, as one already in the directory is;
// each block installed in the directory is handed to `deliver` (which takes
// it there, and may remove it) before the next is read, so the directory
// holds one block at a time whatever the stream's size. A failing `deliver`
// is thrown, as a failure to write is.
struct RestoreDestination {
  std::string name;  // in messages, for the directory: "s3://bucket/path"
  std::function<bool(const std::string& ulid)> present;
  std::function<void(const std::string& block_dir)> deliver;
};

}  // namespace promblock::archive
