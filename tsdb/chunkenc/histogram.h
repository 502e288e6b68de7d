#pragma once
// Reading Prometheus's native histogram chunks (encoding 2, integer counts;
// tsdb/docs/format/chunks.md): a 2-byte sample count, a flags byte whose
// top two bits are the counter reset header, the layout (zero threshold,
// schema, positive and negative spans, custom bounds for schema -53), then
// per sample the timestamp, count, zero count, sum and bucket counts as
// varbit delta-of-deltas (the sum XOR-ed like float values).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tsdb/chunkenc/xor_decode.h"
#include "tsdb/encoding.h"

namespace promblock::chunkenc {

// The schema whose buckets have custom bounds (stored in the layout).
inline constexpr int32_t kCustomBucketsSchema = -53;
// Prometheus's stale marker: a histogram sample whose sum has these bits.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002;

enum class CounterResetHeader : uint8_t {
  kUnknown = 0,
  kNotCounterReset = 1,
  kCounterReset = 2,
  kGauge = 3,
};

struct HistogramSpan {
  int32_t offset = 0;  // buckets skipped before this span (from the previous one)
  uint32_t length = 0;
};

// The layout a chunk's samples share.
struct HistogramLayout {
  int32_t schema = 0;
  double zero_threshold = 0;
  std::vector<HistogramSpan> positive_spans, negative_spans;
  std::vector<double> custom_bounds;  // schema -53 only
};

// One histogram sample, self-contained (its layout copied).
struct HistogramSample {
  HistogramLayout layout;
  uint64_t count = 0, zero_count = 0;
  double sum = 0;
  std::vector<int64_t> positive, negative;  // bucket counts in span order
};

class HistogramIterator {
 public:
  explicit HistogramIterator(std::span<const uint8_t> chunk);

  // Advances to the next sample. False at the end or on a malformed chunk;
  // err() tells them apart. Never reads outside `chunk`.
  bool next();
  const std::string& err() const { return err_; }
  uint16_t num_samples() const { return num_total_; }
  CounterResetHeader counter_reset_header() const { return header_; }
  const HistogramLayout& layout() const { return layout_; }

  // The current sample. A stale marker has the stale NaN as its sum and no
  // meaningful counts.
  int64_t t() const { return t_; }
  uint64_t count() const { return count_; }
  uint64_t zero_count() const { return zero_count_; }
  double sum() const;
  uint64_t sum_bits() const { return sum_.v_bits; }
  // Bucket counts in span order (absolute, not the deltas stored).
  const std::vector<int64_t>& positive() const { return positive_; }
  const std::vector<int64_t>& negative() const { return negative_; }
  // Copies the current sample into `out`, reusing its memory.
  void at(HistogramSample& out) const;

 private:
  bool read_layout();
  bool read_first();
  bool read_next();
  bool fail(const std::string& what);

  enc::BitReader stream_;
  uint16_t num_total_ = 0;
  uint16_t num_read_ = 0;
  CounterResetHeader header_ = CounterResetHeader::kUnknown;
  HistogramLayout layout_;
  int64_t t_ = 0, t_delta_ = 0;
  uint64_t count_ = 0, zero_count_ = 0;
  int64_t count_delta_ = 0, zero_count_delta_ = 0;
  XorDecodeState sum_;  // only its value bits and window are used
  // Per bucket: the stored delta from the bucket before, and its change
  // since the last sample; the absolute counts are summed from them.
  std::vector<int64_t> positive_deltas_, negative_deltas_;
  std::vector<int64_t> positive_dods_, negative_dods_;
  std::vector<int64_t> positive_, negative_;
  std::string err_;
};

// Formats a histogram the way Prometheus's Histogram.String() does:
// {count:N, sum:S, [-b,-a):n, ..., [-z,z]:n, ..., (a,b]:n}, buckets with a
// zero count left out. Bucket bounds follow the schema.
std::string format_histogram(const HistogramSample& h);

}  // namespace promblock::chunkenc
