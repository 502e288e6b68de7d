#pragma once
// The two ends of a byte pipeline (leveldb's Source/Sink idea): the tar
// writer and reader, the zstd filters and plain file descriptors all speak
// these, so a backup is FdSink <- ZstdWriter <- TarWriter and a restore is
// FdSource -> ZstdReader -> TarReader. Every failure throws promblock::Error
// naming the stream.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace promblock::archive {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to buf.size() bytes (at least one unless buf is empty);
  // returns 0 only at the end of the stream.
  virtual size_t read(std::span<uint8_t> buf) = 0;
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Writes all of `bytes`.
  virtual void write(std::span<const uint8_t> bytes) = 0;
};

// Reads until buf is full or the stream ends; returns the bytes read.
size_t read_full(ByteSource& in, std::span<uint8_t> buf);

// A file descriptor it does not own (stdin, stdout, an open file).
class FdSource : public ByteSource {
 public:
  FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  size_t read(std::span<uint8_t> buf) override;
  const std::string& name() const { return name_; }

 private:
  int fd_;
  std::string name_;
};

class FdSink : public ByteSink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  void write(std::span<const uint8_t> bytes) override;
  uint64_t bytes_written() const { return written_; }

 private:
  int fd_;
  std::string name_;
  uint64_t written_ = 0;
};

}  // namespace promblock::archive
