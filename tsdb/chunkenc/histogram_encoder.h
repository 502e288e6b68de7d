#pragma once
// Writing native histogram chunks (encoding 2, and 5 with start timestamps)
// byte for byte as Prometheus's HistogramAppender (HistogramSTAppender) does, for samples that
// share one layout: whoever feeds it starts a new chunk where the layout changes (and on counter
// resets), as the layout is written once, with the first sample.
#include <cstdint>
#include <span>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/histogram.h"

namespace promblock::chunkenc {

// Writes the layout that starts both kinds of histogram chunk, as
// Prometheus does (read back by read_histogram_layout).
void write_histogram_layout(enc::BitWriter& w, const HistogramLayout& layout);

// What the writers of all kinds of histogram chunk share: the header
// (sample count, counter reset bits, ST header), the timestamps and the
// start timestamps.
class HistogramChunkWriter {
 public:
  // The chunk as stored on disk; valid until the next append.
  std::span<const uint8_t> bytes() const;
  uint16_t num_samples() const { return num_samples_; }
  HistogramFormat format() const { return format_; }

 protected:
  HistogramChunkWriter(CounterResetHeader header, HistogramFormat format);
  // Throws promblock::Error when the chunk cannot count another sample
  // (65535 of them, 16383 with start timestamps).
  void check_room(const char* kind) const;
  // Writes a later sample's timestamp as a delta-of-delta; returns the delta.
  int64_t write_next_timestamp(int64_t t);
  // After a sample's payload: writes its start timestamp (ST encodings
  // only) and counts it. Call before t_ is set to the sample's time.
  void finish_sample(int64_t t, int64_t st);

  enc::BitWriter stream_;
  uint16_t num_samples_ = 0;
  int64_t t_ = 0, t_delta_ = 0;

 private:
  HistogramFormat format_;
  CounterResetHeader header_;
  STHeader st_header_;
  STEncoder st_;
};

class HistogramEncoder : public HistogramChunkWriter {
 public:
  // Encoding 2, or 5 with HistogramFormat::kWithST.
  explicit HistogramEncoder(CounterResetHeader header,
                            HistogramFormat format = HistogramFormat::kPlain)
      : HistogramChunkWriter(header, format) {}

  // Appends one sample with start timestamp `st` (0: unknown; ignored in
  // encoding 2, as Prometheus ignores it). Its layout must be the chunk's
  // (the first sample's) unless it is a stale marker; after a stale marker
  // only stale markers may follow (Prometheus starts a new chunk for the
  // next real sample, and its encoding relies on that). Throws
  // promblock::Error otherwise, and when the chunk is full.
  void append(int64_t t, const HistogramSample& h, int64_t st = 0);

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
