#pragma once
// Random access to the chunks of a block's chunks/ directory. All segment
// files are memory-mapped once; chunk() is const and allocation-free, so
// one reader can serve many threads.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tsdb/base/mapped_file.h"
#include "tsdb/base/uninitialized.h"

namespace promblock::chunks {

class ChunkReader {
 public:
  struct Chunk {
    uint8_t encoding;
    std::span<const uint8_t> data;  // points into the mapped segment
    uint32_t crc = 0;               // as stored, checked against the bytes
  };

  // Maps every segment file (000001, 000002, ... without gaps) and checks
  // their headers. Throws promblock::Error naming the file at fault.
  explicit ChunkReader(const std::string& chunks_dir);

  // The chunk at `ref` after checking bounds and its CRC. Throws
  // promblock::Error "SEGMENT: chunk ref 0x...: what" on any corruption,
  // including encodings other than XOR, histogram and float histogram.
  Chunk chunk(uint64_t ref) const;

  // A copy of part of one segment, read (not mapped) for a batch of
  // chunks: a merge reads its inputs once, front to back, and copying
  // costs less than mapping pages and letting go of them again.
  struct Window {
    size_t segment = 0;
    uint64_t begin = 0;                  // file offset of bytes[0]
    UninitializedVector<uint8_t> bytes;  // read() fills it all
  };
  // Bytes [begin, end) of segment `segment`, clipped to its size.
  void read_window(size_t segment, uint64_t begin, uint64_t end, Window& out) const;
  // As chunk(ref), from `window` when the chunk lies wholly inside it,
  // else from the mapping; the data points into whichever it came from.
  Chunk chunk(uint64_t ref, const Window& window) const;
  // The same with windows over several segments (at most one each): from
  // the one over the chunk's segment, if any.
  Chunk chunk(uint64_t ref, std::span<const Window> windows) const;

  // Drops from memory the mapped pages of the chunks before `ref` in its
  // segment (see MappedFile::release_behind), in steps of 64 KiB. Other
  // segments are left alone: a block linked from several holds a series'
  // chunks in all of them, and a merge reads them side by side. For one
  // thread at a time (the one that orders the work); chunk() may run
  // concurrently.
  void release_before(uint64_t ref) const;

  size_t segment_count() const { return segments_.size(); }
  uint64_t total_size() const;
  // The mapped segment with 0-based index i (for tools that walk a segment).
  const MappedFile& segment(size_t i) const { return segments_.at(i); }

 private:
  // The chunk record at the start of `rest`, which starts at the chunk's
  // offset in segment `seg`; nullopt when `rest` ends before the record
  // does but the segment goes on (`rest` is a window).
  std::optional<Chunk> parse(const MappedFile& seg, uint64_t ref,
                             std::span<const uint8_t> rest) const;

  std::string dir_;
  std::vector<MappedFile> segments_;
  mutable std::vector<size_t> released_;  // per segment: bytes released so far
};

}  // namespace promblock::chunks
