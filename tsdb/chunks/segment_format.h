#pragma once
// Layout facts of chunk segment files (Prometheus tsdb/docs/format/chunks.md)
// shared by the reader and the writer:
//   header:  magic (4, big-endian) | version (1) | padding (3)
//   chunk:   len (uvarint) | encoding (1) | data (len) | CRC32-C (4, over
//            encoding and data)
// A chunk ref is the 0-based index of the segment (file 000001 is index 0)
// shifted left by 32, ORed with the chunk's byte offset in that file.
#include <cstdint>
#include <span>
#include <string>

#include "tsdb/base/encoding.h"

namespace promblock::chunks {

constexpr uint32_t kSegmentMagic = 0x85BD40DD;
constexpr uint8_t kSegmentVersion = 1;
constexpr uint64_t kSegmentHeaderSize = 8;
constexpr uint64_t kChunkCrcSize = 4;
// Prometheus sizes a chunk with the longest uvarint of a 32-bit length when
// deciding whether it still fits into a segment.
constexpr uint64_t kMaxChunkLengthFieldSize = 5;
constexpr uint64_t kDefaultMaxSegmentSize = uint64_t(512) << 20;

inline uint64_t make_chunk_ref(uint64_t segment_index, uint64_t offset) {
  return segment_index << 32 | offset;
}
inline uint64_t ref_segment_index(uint64_t ref) { return ref >> 32; }
inline uint64_t ref_offset(uint64_t ref) { return ref & 0xffffffffu; }

// The CRC a chunk record ends with: CRC32-C of its encoding byte and data.
inline uint32_t chunk_crc(uint8_t encoding, std::span<const uint8_t> data) {
  return enc::crc32c(data, enc::crc32c(&encoding, 1));
}

// File name of the segment with 0-based index i: "000001" for 0.
std::string segment_file_name(uint64_t index);

}  // namespace promblock::chunks
