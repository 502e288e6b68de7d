#pragma once
// Directories a killed run leaves in an output directory: blocks it was
// still writing and blocks it was removing.
#include <string>
#include <string_view>

namespace promblock {

// Suffix of a block directory being deleted (see compact/marks.h).
inline constexpr std::string_view kTmpForDeletionSuffix = ".tmp-for-deletion";

// Removes "<ULID>.tmp-for-creation" and "<ULID>.tmp-for-deletion"
// directories that a killed run left in `dir`. Call only while holding the
// DirLock.
void remove_leftover_tmp_dirs(const std::string& dir);

}  // namespace promblock
