#pragma once
// Thanos block marks: deletion-mark.json (the block is to be deleted once a
// delay has passed, so readers can drop it first) and no-compact-mark.json.
// Blocks are deleted by renaming them out of the way first, so a reader
// never sees a half-deleted block.
#include <cstdint>
#include <optional>
#include <string>

namespace promblock::compact {

inline constexpr const char* kDeletionMark = "deletion-mark.json";
inline constexpr const char* kNoCompactMark = "no-compact-mark.json";

// Writes <block_dir>/deletion-mark.json atomically (Thanos format).
void write_deletion_mark(const std::string& block_dir, const std::string& ulid,
                         const std::string& details, int64_t now_unix_s);

// The deletion_time (Unix seconds) of a block's deletion mark; nullopt when
// it has none. An unreadable mark counts as marked now, which only delays
// deletion.
std::optional<int64_t> deletion_time(const std::string& block_dir, int64_t now_unix_s);

// Removes a block directory: renamed to <dir>.tmp-for-deletion, then removed.
void delete_block(const std::string& block_dir);

}  // namespace promblock::compact
