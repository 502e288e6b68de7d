#pragma once
// Prometheus's XOR chunk encoding for float samples (Gorilla-style): a
// 2-byte big-endian sample count, then a bit stream holding
//   sample 0: timestamp as varint, value as its 64 raw bits;
//   sample 1: timestamp delta as uvarint, value XOR-ed with the previous one;
//   later:    delta-of-delta of the timestamp in a prefix-coded bucket
//             (0 | 10+14 bits | 110+17 bits | 1110+20 bits | 1111+64 bits),
//             value XOR-ed with the previous one.
// The encoder reproduces Prometheus's bytes exactly, except that it never
// writes the whole extra zero byte of padding older Prometheus sometimes
// leaves at the end (readers ignore padding).
#include <cstdint>
#include <span>
#include <string>

#include "tsdb/chunkenc/xor_decode.h"
#include "tsdb/encoding.h"

namespace promblock::chunkenc {

enum class Encoding : uint8_t { kNone = 0, kXOR = 1, kHistogram = 2, kFloatHistogram = 3 };

// The name Prometheus prints for an encoding byte, or "unknown(N)".
std::string encoding_name(uint8_t encoding);

class XorEncoder {
 public:
  XorEncoder();

  // Appends one sample. Timestamps are expected in increasing order (the
  // format does not require it, and neither does this encoder). Throws
  // promblock::Error when the chunk already holds 65535 samples.
  void append(int64_t t, double v);
  // Same, with the value given as its bits (stale markers, NaN payloads).
  void append_bits(int64_t t, uint64_t v_bits);

  // The chunk as stored on disk (header included); valid until next append.
  std::span<const uint8_t> bytes() const;
  uint16_t num_samples() const { return num_samples_; }

 private:
  void write_value(uint64_t v_bits);
  void write_uvarint(uint64_t x);

  enc::BitWriter stream_;
  uint16_t num_samples_ = 0;
  int64_t t_ = 0;
  uint64_t t_delta_ = 0;
  uint64_t v_bits_ = 0;
  // XOR window of the last value written with an explicit window; 0xff
  // means none yet (the next non-zero XOR must write its window).
  uint8_t leading_ = 0xff;
  uint8_t trailing_ = 0;
};

class XorIterator {
 public:
  explicit XorIterator(std::span<const uint8_t> chunk);

  // Advances to the next sample. False at the end or on a malformed chunk;
  // err() tells them apart. Never reads outside `chunk`.
  bool next() {
    if (state_.read == num_total_ || !err_.empty()) return false;
    XorStep step = xor_read_sample(state_, stream_);
    if (step == XorStep::kOk) [[likely]]
      return true;
    err_ = xor_step_error(step, state_, num_total_);
    return false;
  }
  int64_t t() const { return state_.t; }
  double v() const;
  uint64_t v_bits() const { return state_.v_bits; }
  // Empty unless the chunk turned out malformed.
  const std::string& err() const { return err_; }
  // The count from the chunk header.
  uint16_t num_samples() const { return num_total_; }

 private:
  enc::BitReader stream_;
  uint16_t num_total_ = 0;
  XorDecodeState state_;
  std::string err_;
};

}  // namespace promblock::chunkenc
