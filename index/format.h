#pragma once
// Constants and small value types of the Prometheus index format v2
// (prometheus/prometheus tsdb/docs/format/index.md), shared by the reader and
// the writer.
#include <cstddef>
#include <cstdint>

namespace promblock::index {

inline constexpr uint32_t kMagic = 0xBAAAD700;
inline constexpr uint8_t kFormatV1 = 1;
inline constexpr uint8_t kFormatV2 = 2;
inline constexpr uint8_t kFormatV3 = 3;  // read as v2 (Prometheus >= 2.55); never written
inline constexpr size_t kHeaderLen = 5;  // magic + version byte
inline constexpr size_t kCrcLen = 4;
inline constexpr size_t kTocLen = 6 * 8 + kCrcLen;

// Series entries start on 16-byte boundaries so that a 4-byte series ref
// (offset / 16) can address 64 GiB; label indices and postings lists start on
// 4-byte boundaries.
inline constexpr uint64_t kSeriesAlign = 16;
inline constexpr uint64_t kListAlign = 4;
inline constexpr uint64_t kMaxIndexSize = kSeriesAlign * 0xFFFFFFFFull;

// Section offsets from the table of contents; zero means "absent".
struct Toc {
  uint64_t symbols = 0;
  uint64_t series = 0;
  uint64_t label_indices = 0;
  uint64_t label_offset_table = 0;
  uint64_t postings = 0;
  uint64_t postings_offset_table = 0;
};

// Where a chunk lives and which samples it covers (both ends inclusive, as
// Prometheus's chunks.Meta).
struct ChunkMeta {
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint64_t ref = 0;  // segment index << 32 | offset in the segment
  bool operator==(const ChunkMeta&) const = default;
};

}  // namespace promblock::index
