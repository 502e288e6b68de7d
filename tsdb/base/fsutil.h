#pragma once
// File-system steps that make a block appear atomically and durably:
// write into a temporary directory, fsync files and directories, rename.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace promblock::fsutil {

// Writes `data` to `path` (created or truncated with permission bits `mode`,
// before the umask) and fsyncs it.
void write_file_synced(const std::string& path, std::span<const uint8_t> data, mode_t mode = 0644);
void write_file_synced(const std::string& path, const std::string& text);
// The whole content of a small file (meta.json, marks). A failing read
// fails naming the file and the OS error: not to be mistaken for bad JSON.
std::string read_small_file(const std::string& path);
// Opens a regular file for reading and returns its descriptor, its size
// in `size`. Non-blocking: a FIFO opened by mistake fails at once instead
// of waiting for a writer, as a directory does ("not a regular file").
// Every failure names the path; where `missing_ok`, a missing file gives
// -1 instead.
int open_regular_file(const std::string& path, uint64_t& size, bool missing_ok = false);
// The whole content of a small regular file (open_regular_file), or
// nullopt where there is no such file.
std::optional<std::string> read_regular_file_if_present(const std::string& path);
// fsyncs a file or directory by path.
void fsync_path(const std::string& path);
// fsyncs a directory; fails if `dir` is not one.
void fsync_dir(const std::string& dir);
// Renames `from` to `to` (same file system) and fsyncs the parent of `to`.
void rename_synced(const std::string& from, const std::string& to);
// Renames without fsync: for scratch files no later run reads.
void rename_unsynced(const std::string& from, const std::string& to);
// Bytes of the regular files in a directory tree; what cannot be read
// counts 0 (for reports, not for checks).
uint64_t tree_bytes(const std::string& dir);
// Creates a directory (and parents) or fails naming it.
void make_dirs(const std::string& path);
// Parent directory of a path ("." when none).
std::string parent_of(const std::string& path);
// Last path component, ignoring trailing slashes.
std::string base_name(const std::string& path);

}  // namespace promblock::fsutil
