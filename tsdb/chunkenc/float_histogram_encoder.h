#pragma once
// Writing float histogram chunks (encoding 3, and 6 with start timestamps)
// byte for byte as Prometheus's FloatHistogramAppender (-STAppender) does, for samples that share
// one layout (the caller cuts chunks where it changes; see histogram_encoder.h).
// It mirrors HistogramEncoder line for line where the two formats agree
// (timestamps, spans, the chunk header) and differs in how every count and
// the sum are written (XOR of floats instead of integer delta-of-deltas);
// Prometheus keeps the two appenders apart for the same reason.
#include <cstdint>
#include <span>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/histogram_encoder.h"

namespace promblock::chunkenc {

class FloatHistogramEncoder : public HistogramChunkWriter {
 public:
  // Encoding 3, or 6 with HistogramFormat::kWithST.
  explicit FloatHistogramEncoder(CounterResetHeader header,
                                 HistogramFormat format = HistogramFormat::kPlain)
      : HistogramChunkWriter(header, format) {}

  // Appends one sample with start timestamp `st`; the same rules as
  // HistogramEncoder::append (layout of the first sample, nothing but stale
  // markers after a stale marker, st ignored in encoding 3). Throws
  // promblock::Error when they are broken.
  void append(int64_t t, const FloatHistogramSample& h, int64_t st = 0);

 private:
  // A value and the XOR window last written for it (leading 0xff: none).
  struct XorValue {
    uint64_t bits = 0;
    uint8_t leading = 0xff, trailing = 0;
  };
  void write(XorValue& v, double x);

  XorValue count_, zero_count_, sum_;
  std::vector<XorValue> positive_, negative_;
};

}  // namespace promblock::chunkenc
