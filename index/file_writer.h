#pragma once
// An append-only file with a large user-space buffer, a running position,
// alignment padding and in-place patching of already written bytes. Every
// failure throws promblock::Error naming the path and the OS error.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace promblock::index {

class FileWriter {
 public:
  // Creates or truncates `path`.
  explicit FileWriter(std::string path, size_t buffer_size = size_t(4) << 20);
  ~FileWriter();  // closes without syncing if close() was not called
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void write(std::span<const uint8_t> bytes);
  // Writes zero bytes until pos() is a multiple of `alignment`.
  void pad_to(uint64_t alignment);
  // Overwrites bytes at an earlier position (flushes the buffer first).
  void write_at(uint64_t pos, std::span<const uint8_t> bytes);
  // Flushes, fsyncs and closes the file.
  void close();

  uint64_t pos() const { return pos_; }
  const std::string& path() const { return path_; }

 private:
  void flush();
  void write_all(const uint8_t* p, size_t n);
  [[noreturn]] void fail_errno(const std::string& what, int err) const;

  std::string path_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  size_t buf_cap_;
  uint64_t pos_ = 0;
};

}  // namespace promblock::index
