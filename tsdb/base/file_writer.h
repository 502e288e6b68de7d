#pragma once
// An append-only file with a large user-space buffer, a running position,
// alignment padding and in-place patching of already written bytes. Every
// failure throws promblock::Error naming the path and the OS error. Used for
// index files, chunk segments and small files written in one go.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace promblock {

// Writes all of `bytes` to `fd`, again where write(2) is interrupted or
// writes less; a failure throws an Error "NAME: write failed: ...".
void write_fully(int fd, std::span<const uint8_t> bytes, const std::string& name);

class FileWriter {
 public:
  static constexpr size_t kDefaultBufferSize = size_t(4) << 20;

  // Creates or truncates `path` with permission bits `mode` (before the
  // umask). A `buffer_size` of 0 writes straight through. `kind`, if given,
  // names the file in the error when it cannot be created ("cannot create
  // chunk segment: ...").
  explicit FileWriter(std::string path, size_t buffer_size = kDefaultBufferSize, mode_t mode = 0666,
                      std::string_view kind = {});
  ~FileWriter();  // closes without syncing if close() was not called
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void write(std::span<const uint8_t> bytes);
  // Writes zero bytes until pos() is a multiple of `alignment`.
  void pad_to(uint64_t alignment);
  // Overwrites bytes at an earlier position: in the buffer where they still
  // are, else in the file (flushing the buffer first).
  void write_at(uint64_t pos, std::span<const uint8_t> bytes);
  // Flushes and starts writing everything back to disk without waiting
  // for it: a later close() then has little left to wait for.
  void start_writeback();
  // As start_writeback(), for a file written no more before close(): its
  // buffer's memory goes too (a later write would go straight through).
  void finish_writing();
  // Flushes, fsyncs and closes the file.
  void close();
  // For files nothing reads soon (chunk segments): once synced (in the
  // background as they grow, and at close), their pages leave the page
  // cache. A long compaction then writes through pages it freed moments
  // before instead of taking fresh memory for all of its output (on a VM
  // that hands freed memory back to its host, each fresh page is a fault
  // there), and leaves the page cache to the machine's other work.
  void set_drop_behind() { drop_behind_ = true; }

  uint64_t pos() const { return pos_; }
  const std::string& path() const { return path_; }

 private:
  class Syncer;  // fdatasync on a thread of its own, for large files

  void flush();
  void kick_writeback();
  void write_all(const uint8_t* p, size_t n);

  std::string path_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  size_t buf_cap_;
  uint64_t pos_ = 0;
  uint64_t written_ = 0;  // bytes handed to write(2), in order
  uint64_t kicked_ = 0;   // bytes whose writeback has been started
  uint64_t synced_ = 0;   // bytes a background fdatasync has been asked for
  bool drop_behind_ = false;
  std::unique_ptr<Syncer> syncer_;
};

}  // namespace promblock
