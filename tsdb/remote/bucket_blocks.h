#pragma once
// Blocks in an object-store bucket, laid out as Thanos lays them out:
// <root><ULID>/meta.json, index, chunks/NNNNNN, and the marks
// deletion-mark.json and no-compact-mark.json. A block is visible only once
// its meta.json exists: a ULID prefix without one is an upload in progress
// or an aborted one (a "partial" block), which readers ignore.
#include <cstdint>
#include <string>
#include <vector>

#include "tsdb/block/meta.h"
#include "tsdb/objstore/bucket.h"

namespace promblock::remote {

inline constexpr const char* kMetaFile = "meta.json";
inline constexpr const char* kDeletionMarkFile = "deletion-mark.json";
inline constexpr const char* kNoCompactMarkFile = "no-compact-mark.json";

struct BucketBlock {
  std::string prefix;  // "<root><ULID>/"
  BlockMeta meta;
  // Every object of the block, names relative to `prefix` ("chunks/000001").
  std::vector<objstore::ObjectInfo> objects;
  bool deletion_marked = false;
  bool no_compact_marked = false;

  // Bytes of the block's own files (marks left out), as `ls` shows them.
  uint64_t size_bytes() const;
};

struct PartialBlock {
  std::string ulid;
  std::string prefix;
  std::vector<objstore::ObjectInfo> objects;
};

struct UnreadableBlock {
  PartialBlock where;
  std::string error;  // why its meta.json could not be read
};

// The last name component of a prefix: "a/01H.../" -> "01H...".
std::string last_component(const std::string& prefix);

struct BucketListing {
  std::vector<BucketBlock> blocks;          // sorted by (minTime, ULID)
  std::vector<PartialBlock> partials;       // ULID prefixes without meta.json, by ULID
  std::vector<UnreadableBlock> unreadable;  // meta.json there but not parseable, by ULID
};

// The blocks under `root` ("" or "some/prefix/"): one listing of the
// bucket, then each meta.json read. When `root` itself is a block
// ("<...>/ULID/" with a meta.json), that block alone. Reading stops at the
// first bad meta.json (an Error naming the object) unless `keep_unreadable`
// collects such blocks in `unreadable` instead, as verify does.
BucketListing list_blocks(objstore::Bucket& bucket, const std::string& root,
                          bool keep_unreadable = false);

}  // namespace promblock::remote
