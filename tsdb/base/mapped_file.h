#pragma once
// A read-only memory-mapped file. Empty files map to an empty span (mmap
// refuses zero bytes). Errors name the path.
//
// A read of mapped bytes that the file can no longer back (it was truncated
// by another process, or the disk failed) raises SIGBUS; the process then
// prints one line naming the file and exits with status 1 instead of
// crashing. Nothing half-written is published by then: outputs are
// published by a rename at the very end.
#include <cstdint>
#include <span>
#include <string>

namespace promblock {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  std::span<const uint8_t> bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  const std::string& path() const { return path_; }
  // Drops the whole pages inside [begin, end) from this process's resident
  // set; the bytes stay readable (a later read faults them back in from the
  // page cache). Lets a sequential pass over a large file keep a flat RSS.
  void release(size_t begin, size_t end) const;
  // For a sequential pass: once `upto` is at least `step` bytes past
  // `released` (the caller's frontier), drops every page wholly before
  // `upto`, the one holding the previous frontier included, and moves the
  // frontier to the page boundary. `step` 0 releases whatever is new.
  void release_behind(size_t& released, size_t upto, size_t step) const;
  // Copies bytes [offset, offset + out.size()) with pread: a sequential
  // pass that reads this way keeps no page mapped, so it needs no release
  // (whose page-table work costs more than the copy). Throws naming the
  // file when the range is past the mapped size or the file shrank.
  void read(size_t offset, std::span<uint8_t> out) const;

 private:
  void unmap() noexcept;

  std::string path_;
  std::span<const uint8_t> bytes_;  // the whole mapping; empty: none
  int slot_ = -1;                   // where the mapping is registered for the SIGBUS handler
  int fd_ = -1;  // the mapped file's, for read(): the same file whatever renames follow
};

}  // namespace promblock
