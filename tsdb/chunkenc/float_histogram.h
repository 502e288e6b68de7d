#pragma once
// Reading Prometheus's float histogram chunks (encoding 3, and 6 with start
// timestamps as st.h tells): the header and
// layout of histogram chunks (histogram.h), then per sample the timestamp
// as a varbit delta-of-delta and the count, zero count, sum and every
// bucket as a float XOR-ed with its previous value (each with its own
// window), the first sample's values raw.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor_decode.h"

namespace promblock::chunkenc {

class FloatHistogramIterator : public HistogramChunkReader {
 public:
  // Encoding 3, or 6 with HistogramFormat::kWithST.
  explicit FloatHistogramIterator(std::span<const uint8_t> chunk,
                                  HistogramFormat format = HistogramFormat::kPlain);

  // Advances to the next sample. False at the end or on a malformed chunk;
  // err() tells them apart. Never reads outside `chunk`.
  bool next();

  // Copies the current sample into `out`, reusing its memory. A stale
  // marker has the stale NaN as its sum and nothing else.
  void at(FloatHistogramSample& out) const;

 private:
  bool read_first();
  bool read_next();

  // Value bits and XOR window of the count, zero count, sum and each bucket.
  XorDecodeState count_, zero_count_, sum_;
  std::vector<XorDecodeState> positive_, negative_;
};

}  // namespace promblock::chunkenc
