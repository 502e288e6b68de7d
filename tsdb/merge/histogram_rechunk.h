#pragma once
// Re-encoding merged native histogram samples into chunks of encodings 2
// and 3, or 5 and 6 for samples with start timestamps.
//
// A histogram chunk stores its layout (schema, zero threshold, spans) once,
// so a merged stretch is cut into chunks where Prometheus's appender would
// cut it: at 120 samples, when schema, zero threshold or custom bounds
// change, at a counter reset, between gauge and counter histograms, and at
// a real sample after a stale marker, and where samples start or stop
// having a start timestamp (Prometheus 3.14: an ST chunk holds samples
// with one, a plain chunk those without). Buckets that appear (or, in gauges,
// vanish) inside a chunk do not cut it: as Prometheus recodes such a chunk,
// its layout becomes the union of its samples' buckets, a sample's missing
// buckets counted as zero (which queries do not show).
//
// Counter resets are detected from the data (a count, the zero count or a
// populated bucket went down), not taken from the inputs' chunk headers:
// after a merge, the sample before a chunk may come from another replica
// than the one whose header said "reset" or "no reset".
#include <cstdint>
#include <span>
#include <vector>

#include "tsdb/chunkenc/histogram.h"

namespace promblock::merge {

// A merged histogram sample and where it came from.
template <class Sample>
struct BasicHistogramRef {
  int64_t t = 0;
  const Sample* h = nullptr;
  bool gauge = false;  // from a gauge histogram chunk
  int64_t st = 0;      // start timestamp; 0: none
};
using HistogramRef = BasicHistogramRef<chunkenc::HistogramSample>;
using FloatHistogramRef = BasicHistogramRef<chunkenc::FloatHistogramSample>;

// Everything below exists for integer (encoding 2) and float (encoding 3)
// histograms alike.

bool is_stale(const chunkenc::HistogramSample& h);
bool is_stale(const chunkenc::FloatHistogramSample& h);

enum class CounterChange { kNoReset, kReset, kIncomparable };

// Whether `cur` resets the counter histogram `prev` (both real samples).
// Incomparable when schema, zero threshold or custom bounds differ.
CounterChange counter_change(const chunkenc::HistogramSample& prev,
                             const chunkenc::HistogramSample& cur);
CounterChange counter_change(const chunkenc::FloatHistogramSample& prev,
                             const chunkenc::FloatHistogramSample& cur);

// The header a counter chunk starting with `first` gets after `prev` (the
// last real sample before it, or null).
chunkenc::CounterResetHeader counter_header_after(const chunkenc::HistogramSample* prev,
                                                  const chunkenc::HistogramSample& first);
chunkenc::CounterResetHeader counter_header_after(const chunkenc::FloatHistogramSample* prev,
                                                  const chunkenc::FloatHistogramSample& first);

// One output chunk: samples [begin, end) of the stretch and its header.
struct HistogramChunkPlan {
  size_t begin = 0, end = 0;
  chunkenc::CounterResetHeader header = chunkenc::CounterResetHeader::kUnknown;
};

// Where the chunks of `samples` (time-ordered) begin and what their headers
// say. `before` is the real sample just before the stretch in the output,
// if any: it decides the first chunk's header.
std::vector<HistogramChunkPlan> plan_histogram_chunks(std::span<const HistogramRef> samples,
                                                      const chunkenc::HistogramSample* before);
std::vector<HistogramChunkPlan> plan_histogram_chunks(std::span<const FloatHistogramRef> samples,
                                                      const chunkenc::FloatHistogramSample* before);

// Encodes one planned chunk into `out` (replaced), in the union layout of
// its samples; in the ST encoding (5, 6) when its samples have start
// timestamps (plan_histogram_chunks never mixes them).
void encode_histogram_chunk(std::span<const HistogramRef> samples,
                            chunkenc::CounterResetHeader header, std::vector<uint8_t>& out);
void encode_histogram_chunk(std::span<const FloatHistogramRef> samples,
                            chunkenc::CounterResetHeader header, std::vector<uint8_t>& out);

}  // namespace promblock::merge
