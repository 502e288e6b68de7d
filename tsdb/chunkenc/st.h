#pragma once
// Start timestamps (ST) of Prometheus 3.x's histogram-ST and
// float-histogram-ST chunks (encodings 5 and 6; tsdb/chunkenc/st.go). Such
// a chunk's header differs from a histogram chunk's: its first two bytes
// hold the counter reset header in their top two bits and the sample count
// in the other 14, its third byte is the ST header (top bit: the first
// sample has an ST; low 7 bits: the sample, counted from 0, from which on
// every sample stores its ST, 0 for none). After each sample's payload:
//   sample 0:  if its ST is known, a signed varint (8-bit groups, not
//              byte-aligned) of t - st;
//   sample 1:  if the ST changed, varbit(previous t - st);
//   sample k:  before the first change, nothing, unless k is 127, where
//              the writer stores it anyway (the header cannot count
//              further); from the first change on, varbit of the change of
//              (previous t - st).
// An absent ST is 0, as in Prometheus.
#include <cstdint>
#include <string>

#include "tsdb/base/encoding.h"

namespace promblock::chunkenc {

// At most this many samples fit a histogram-ST chunk's 14-bit count.
inline constexpr uint16_t kMaxHistogramSTSamples = 0x3fff;
// The last sample number the ST header's 7 bits can name.
inline constexpr uint16_t kMaxFirstSTChangeOn = 0x7f;

// The ST header byte's parts.
struct STHeader {
  bool first_known = false;
  uint8_t first_change_on = 0;
  static STHeader parse(uint8_t b) { return {(b & 0x80) != 0, uint8_t(b & 0x7f)}; }
  uint8_t byte() const { return uint8_t((first_known ? 0x80 : 0) | (first_change_on & 0x7f)); }
};

// Reads the ST that follows a sample.
class STDecoder {
 public:
  void reset(STHeader header) { *this = STDecoder(), header_ = header; }
  // `num_read` counts the samples read including this one; `t` is this
  // sample's time, `prev_t` the one before. False when the stream ends or
  // the varint is longer than 10 bytes.
  bool read(enc::BitReader& r, uint32_t num_read, int64_t t, int64_t prev_t);
  int64_t st() const { return st_; }

 private:
  STHeader header_;
  int64_t st_ = 0, st_diff_ = 0;
};

// Writes the ST after a sample as Prometheus's appender does.
class STEncoder {
 public:
  // `num` counts the samples written including this one; `t` is this
  // sample's time, `prev_t` the one before. Updates `header` (the chunk's
  // ST header byte) where Prometheus does.
  void write(enc::BitWriter& w, uint32_t num, int64_t t, int64_t prev_t, int64_t st,
             STHeader& header);

 private:
  int64_t st_ = 0, st_diff_ = 0;
  uint8_t first_change_on_ = 0;
};

}  // namespace promblock::chunkenc
