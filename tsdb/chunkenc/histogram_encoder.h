#pragma once
// Writing native histogram chunks (encoding 2) byte for byte as
// Prometheus's HistogramAppender does, for samples that share one layout:
// whoever feeds it starts a new chunk where the layout changes (and on
// counter resets), as the layout is written once, with the first sample.
#include <cstdint>
#include <span>
#include <vector>

#include "tsdb/chunkenc/histogram.h"
#include "tsdb/encoding.h"

namespace promblock::chunkenc {

// Writes the layout that starts both kinds of histogram chunk, as
// Prometheus does (read back by read_histogram_layout).
void write_histogram_layout(enc::BitWriter& w, const HistogramLayout& layout);

// What the writers of both kinds of histogram chunk share: the header
// (sample count, counter reset bits) and the timestamps.
class HistogramChunkWriter {
 public:
  // The chunk as stored on disk; valid until the next append.
  std::span<const uint8_t> bytes() const;
  uint16_t num_samples() const { return num_samples_; }

 protected:
  explicit HistogramChunkWriter(CounterResetHeader header);
  // Writes a later sample's timestamp as a delta-of-delta; returns the delta.
  int64_t write_next_timestamp(int64_t t);

  enc::BitWriter stream_;
  uint16_t num_samples_ = 0;
  int64_t t_ = 0, t_delta_ = 0;
};

class HistogramEncoder : public HistogramChunkWriter {
 public:
  explicit HistogramEncoder(CounterResetHeader header) : HistogramChunkWriter(header) {}

  // Appends one sample. Its layout must be the chunk's (the first sample's)
  // unless it is a stale marker; after a stale marker only stale markers
  // may follow (Prometheus starts a new chunk for the next real sample, and
  // its encoding relies on that). Throws promblock::Error otherwise, and at
  // 65535 samples.
  void append(int64_t t, const HistogramSample& h);

 private:
  uint64_t count_ = 0, zero_count_ = 0;
  int64_t count_delta_ = 0, zero_count_delta_ = 0;
  uint64_t sum_bits_ = 0;
  uint8_t leading_ = 0xff, trailing_ = 0;  // XOR window of the sum (see write_xor_value)
  // Per bucket, as Prometheus keeps them: the last sample's difference to
  // the bucket before, and how that difference changed from the sample
  // before.
  std::vector<int64_t> positive_, negative_;
  std::vector<int64_t> positive_change_, negative_change_;
};

}  // namespace promblock::chunkenc
