#pragma once
// Prometheus 3.x's XOR2 float chunk encoding (encoding byte 4,
// tsdb/chunkenc/xor2.go), with optional start timestamps (ST). Layout:
//   2 bytes  big-endian sample count;
//   1 byte   ST header: 0x80 = sample 0 carries an ST, low 7 bits = the
//            index of the first sample whose ST is written as a change
//            (0: none);
//   sample 0: timestamp varint, value's 64 bits, then (if 0x80) t - st as varint;
//   sample 1: timestamp delta uvarint, value as in the dod != 0 case below;
//   later:    a joint prefix for timestamp delta-of-delta and value:
//               0      dod 0, value unchanged
//               10     dod 0, value changed: 0 = XOR in the old window,
//                      1 = new window (5 bits leading, 6 bits length)
//               110    dod in 13 bits, then a value
//               1110   dod in 20 bits, then a value
//               11110  dod in 64 bits, then a value
//               11111  dod 0, stale NaN
//             where "a value" is 0 unchanged, 10 old window, 110 new
//             window, 111 stale NaN.
// From the sample named in the ST header on, every sample ends with a
// varbit integer: for the first, prev_t - st; after it, the change of
// prev_t - st. A stale NaN never becomes the XOR baseline: values are
// XOR-ed with the last non-stale one. An absent ST is 0, as in Prometheus.
//
// Xor2Encoder/Xor2Iterator look like XorEncoder/XorIterator (xor.h) in their
// state and header handling, on purpose: the bit layouts part ways from
// sample 2 on, both sit on the per-sample hot path, and one template over
// both would put a branch on the format into every sample.
#include <cstdint>
#include <span>
#include <string>

#include "tsdb/base/encoding.h"

namespace promblock::chunkenc {

class Xor2Encoder {
 public:
  Xor2Encoder();

  // Appends one sample; st 0 means none. Reproduces Prometheus v3.14.0's
  // appender byte for byte, including its quirk of writing ST deltas for
  // every sample from index 127 on, even when no sample has an ST (so
  // that the 7-bit header stays valid). Throws promblock::Error when the
  // chunk already holds 65535 samples.
  void append(int64_t t, uint64_t v_bits, int64_t st = 0);

  // The chunk as stored on disk (headers included); valid until next append.
  std::span<const uint8_t> bytes() const;
  uint16_t num_samples() const { return num_samples_; }

 private:
  void write_varint(int64_t x);
  void write_uvarint(uint64_t x);
  // The joint dod/value prefix of samples from index 2 on.
  void write_joint(int64_t dod, uint64_t v_bits);
  // The value after a non-zero dod (and of sample 1).
  void write_value(uint64_t v_bits);
  // The XOR x (non-zero) of a changed value, after the prefix for reusing
  // the window or for a new one (the dod-0 form and the value form differ).
  void write_xor(uint64_t x, uint64_t reuse, int reuse_bits, uint64_t fresh, int fresh_bits);

  enc::BitWriter stream_;
  uint16_t num_samples_ = 0;
  uint8_t st_header_ = 0;
  int64_t st_ = 0;
  int64_t t_ = 0;
  uint64_t t_delta_ = 0;
  int64_t st_diff_ = 0;     // prev_t - st of the previous sample, once ST deltas are on
  uint64_t v_bits_ = 0;     // the last non-stale value: the XOR baseline
  uint8_t leading_ = 0xff;  // 0xff: no window yet
  uint8_t trailing_ = 0;
  uint16_t first_st_change_on_ = 0;
};

class Xor2Iterator {
 public:
  explicit Xor2Iterator(std::span<const uint8_t> chunk);

  // Advances to the next sample. False at the end or on a malformed chunk;
  // err() tells them apart. Never reads outside `chunk`.
  bool next();
  int64_t t() const { return t_; }
  uint64_t v_bits() const { return v_bits_; }
  double v() const;
  // The start timestamp, 0 when the chunk has none for this sample.
  int64_t st() const { return st_; }
  const std::string& err() const { return err_; }
  uint16_t num_samples() const { return num_total_; }

 private:
  bool read_sample();
  bool read_value();  // after a non-zero dod (and sample 1)
  bool read_xor(bool new_window);
  bool read_varint_bytes(uint64_t& out);
  bool fail(const std::string& what);

  enc::BitReader stream_;
  uint16_t num_total_ = 0;
  uint16_t read_ = 0;
  bool first_st_known_ = false;
  uint8_t first_st_change_on_ = 0;
  int64_t t_ = 0;
  int64_t st_ = 0;
  uint64_t t_delta_ = 0;
  int64_t st_diff_ = 0;
  uint64_t v_bits_ = 0;
  uint64_t baseline_ = 0;  // the last non-stale value
  uint8_t leading_ = 0;
  uint8_t trailing_ = 0;
  std::string err_;
};

}  // namespace promblock::chunkenc
