#pragma once
// Writes chunks into numbered segment files (000001, 000002, ...) the way
// Prometheus's chunks.Writer does, starting a new segment when the next
// chunk would push the current one past the size cap.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tsdb/base/file_writer.h"
#include "tsdb/chunks/segment_format.h"

namespace promblock::chunks {

class ChunkWriter {
 public:
  // Creates `chunks_dir` (and parents) if needed. Segments are never made
  // larger than max_segment_size unless a single chunk alone is larger;
  // the cap must leave chunk offsets within 32 bits.
  explicit ChunkWriter(const std::string& chunks_dir,
                       uint64_t max_segment_size = kDefaultMaxSegmentSize);
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Appends one chunk (`data` as the chunk encoder produced it) and returns
  // its ref; `crc` is its chunk_crc() where the caller has it. Writes are
  // buffered. Throws promblock::Error naming the file.
  uint64_t write(uint8_t encoding, std::span<const uint8_t> data,
                 std::optional<uint32_t> crc = std::nullopt);

  // Hard-links the segment file at `path` (another block's, on the same
  // file system) in as the next segment, so that its chunks are referred
  // to where they lie instead of being written again; returns its 0-based
  // segment index. Only before the first write(). nullopt, with nothing
  // changed, where the file system cannot link it there.
  std::optional<uint64_t> link_segment(const std::string& path);

  // Flushes the last segment and starts it on its way to disk, for close()
  // to find it there: a block's writer writes its index meanwhile.
  void finish_writing() { finish_segment(); }

  // Flushes and fsyncs the segments and the directory. Must be called for
  // the data to count as written; without it the destructor just closes
  // the files.
  void close();

  size_t segment_count() const { return segments_; }

 private:
  void start_segment();
  void finish_segment();

  std::string dir_;
  uint64_t max_segment_size_;
  std::unique_ptr<FileWriter> segment_;  // the current segment, while open
  // Full segments, going to disk in the background until close() fsyncs
  // them: an fsync at each cut would stall the merge for the disk.
  std::vector<std::unique_ptr<FileWriter>> full_;
  uint64_t segments_ = 0;            // started or linked so far; the current one is the last
  std::vector<std::string> linked_;  // paths of linked segments, fsynced at close()
  bool closed_ = false;
};

}  // namespace promblock::chunks
