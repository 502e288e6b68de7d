#pragma once
// What every chunk shares, whatever its encoding: the encoding byte and the
// sample count in its header. Readers of segments, dump, verify, analyze,
// rewrite and merge ask here instead of knowing each codec's header.
#include <cstdint>
#include <span>
#include <string>

namespace promblock::chunkenc {

// Prometheus's encoding bytes (tsdb/chunkenc/chunk.go). 4-6 are Prometheus
// 3.x's: the samples of 1-3 with optional start (created) timestamps, XOR2
// also packing floats tighter.
enum class Encoding : uint8_t {
  kNone = 0,
  kXOR = 1,
  kHistogram = 2,
  kFloatHistogram = 3,
  kXOR2 = 4,
  kHistogramST = 5,
  kFloatHistogramST = 6,
};

// The name Prometheus prints for an encoding byte, or "unknown(N)".
std::string encoding_name(uint8_t encoding);

inline bool is_known_encoding(uint8_t e) {
  return e >= uint8_t(Encoding::kXOR) && e <= uint8_t(Encoding::kFloatHistogramST);
}
inline bool is_float_encoding(uint8_t e) {
  return e == uint8_t(Encoding::kXOR) || e == uint8_t(Encoding::kXOR2);
}
// Encodings whose samples may carry start timestamps.
inline bool has_start_timestamps(uint8_t e) { return e >= uint8_t(Encoding::kXOR2); }

// The sample count a chunk's header gives (0 when the data is too short):
// 16 bits, but 14 in encodings 5 and 6, whose top two bits hold the
// counter reset header.
inline uint16_t header_sample_count(uint8_t encoding, std::span<const uint8_t> data) {
  if (data.size() < 2) return 0;
  uint16_t n = uint16_t(data[0] << 8 | data[1]);
  if (encoding == uint8_t(Encoding::kHistogramST) ||
      encoding == uint8_t(Encoding::kFloatHistogramST))
    n &= 0x3fff;
  return n;
}

}  // namespace promblock::chunkenc
