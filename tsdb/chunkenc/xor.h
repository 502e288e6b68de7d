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
#include <bit>
#include <cstdint>
#include <span>
#include <string>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunkenc/xor_decode.h"

namespace promblock::chunkenc {

class XorEncoder {
 public:
  XorEncoder();

  // Appends one sample. Timestamps are expected in increasing order (the
  // format does not require it, and neither does this encoder). Throws
  // promblock::Error when the chunk already holds 65535 samples.
  void append(int64_t t, double v);
  // Same, with the value given as its bits (stale markers, NaN payloads).
  // Inline: a merge re-encodes every sample of overlapping chunks.
  void append_bits(int64_t t, uint64_t v_bits);

  // The chunk as stored on disk (header included); valid until next append.
  std::span<const uint8_t> bytes() const;
  uint16_t num_samples() const { return num_samples_; }

 private:
  void append_first(int64_t t, uint64_t v_bits);  // the first two samples, and the limit
  void write_value(uint64_t v_bits);
  void write_uvarint(uint64_t x);
  // Whether x fits the delta-of-delta bucket of `nbits` bits. The range is
  // Prometheus's: one more on the positive side than on the negative side.
  static bool fits_bucket(int64_t x, int nbits) {
    int64_t half = int64_t(1) << (nbits - 1);
    return -(half - 1) <= x && x <= half;
  }

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

[[gnu::always_inline]] inline void XorEncoder::append_bits(int64_t t, uint64_t v_bits) {
  if (num_samples_ < 2 || num_samples_ == UINT16_MAX) [[unlikely]]
    return append_first(t, v_bits);
  // Unsigned arithmetic: deltas wrap exactly as Go's do, without UB.
  uint64_t t_delta = uint64_t(t) - uint64_t(t_);
  int64_t dod = int64_t(t_delta - t_delta_);
  // The bucket is picked by arithmetic, not a chain of branches: with
  // jittered scrapes the bucket changes unpredictably from sample to
  // sample. Buckets nest, so counting the ones dod misses gives its index.
  int bucket = (dod != 0) + !fits_bucket(dod, 14) + !fits_bucket(dod, 17) + !fits_bucket(dod, 20);
  if (bucket < 4) [[likely]] {
    // Prefix and payload in one write: '0', '10'+14, '110'+17, '1110'+20 bits.
    static constexpr uint8_t kPayloadBits[] = {0, 14, 17, 20};
    static constexpr uint8_t kPrefix[] = {0b0, 0b10, 0b110, 0b1110};
    int payload = kPayloadBits[bucket];
    uint64_t mask = (uint64_t(1) << payload) - 1;
    stream_.write_bits(uint64_t(kPrefix[bucket]) << payload | (uint64_t(dod) & mask),
                       bucket + 1 + payload);
  } else {
    stream_.write_bits(0b1111, 4);
    stream_.write_bits(uint64_t(dod), 64);
  }
  write_value(v_bits);
  t_ = t;
  t_delta_ = t_delta;
  v_bits_ = v_bits;
  ++num_samples_;
}

// Writes the value encoding of Prometheus's float chunks (also a histogram
// chunk's sum): x is the XOR of the value with the previous one; leading
// and trailing are the window last written (leading 0xff: none yet), and
// are updated when a new window is written.
[[gnu::always_inline]] inline void write_xor_value(enc::BitWriter& w, uint64_t x, uint8_t& leading,
                                                   uint8_t& trailing) {
  if (x == 0) {
    w.write_bits(0, 1);
    return;
  }
  int lead = std::countl_zero(x), trail = std::countr_zero(x);
  // The window's leading count has only 5 bits.
  if (lead >= 32) lead = 31;
  if (leading != 0xff && lead >= leading && trail >= trailing) {
    // Control bits 1 0, then the XOR inside the previous window; one write
    // when both fit the writer's fast path.
    int significant = 64 - leading - trailing;
    if (significant <= 54)
      w.write_bits(uint64_t(0b10) << significant | x >> trailing, 2 + significant);
    else
      w.write_bits(0b10, 2), w.write_bits(x >> trailing, significant);
    return;
  }
  leading = uint8_t(lead);
  trailing = uint8_t(trail);
  // Control bits 1 1, 5 bits of leading zeros, 6 of significant bits. 64
  // significant bits do not fit in 6 bits and are written as 0; 0 never
  // occurs (that is the x == 0 case above).
  int significant = 64 - lead - trail;
  uint64_t head = uint64_t(0b11) << 11 | uint64_t(lead) << 6 | uint64_t(significant & 0x3f);
  if (significant <= 43) {
    w.write_bits(head << significant | x >> trail, 13 + significant);
  } else {
    w.write_bits(head, 13);
    w.write_bits(x >> trail, significant);
  }
}

[[gnu::always_inline]] inline void XorEncoder::write_value(uint64_t v_bits) {
  write_xor_value(stream_, v_bits ^ v_bits_, leading_, trailing_);
}

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
