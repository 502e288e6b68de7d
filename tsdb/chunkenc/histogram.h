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

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunkenc/st.h"
#include "tsdb/chunkenc/xor_decode.h"

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

// Which header a histogram chunk has and whether its samples carry start
// timestamps: encodings 2 and 3 (kPlain) or 5 and 6 (kWithST, see st.h).
enum class HistogramFormat : uint8_t { kPlain, kWithST };

// The format of a histogram chunk of encoding 2, 3, 5 or 6 (chunk.h).
inline HistogramFormat histogram_format_of(uint8_t encoding) {
  return encoding >= uint8_t(Encoding::kHistogramST) ? HistogramFormat::kWithST
                                                     : HistogramFormat::kPlain;
}

// The counter reset header of a histogram chunk's data (without the
// encoding byte): the top two bits of its third byte (of its first byte in
// the ST encodings). Unknown when the data is too short to have one.
inline CounterResetHeader counter_reset_header_of(
    std::span<const uint8_t> data, HistogramFormat format = HistogramFormat::kPlain) {
  if (data.size() < 3) return CounterResetHeader::kUnknown;
  return CounterResetHeader(data[format == HistogramFormat::kWithST ? 0 : 2] >> 6);
}

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

// One histogram sample, self-contained (its layout copied): integer counts
// (encoding 2) or float counts (encoding 3, float histograms).
template <class Count, class BucketCount>
struct BasicHistogramSample {
  HistogramLayout layout;
  Count count = 0, zero_count = 0;
  double sum = 0;
  std::vector<BucketCount> positive, negative;  // bucket counts in span order
};
using HistogramSample = BasicHistogramSample<uint64_t, int64_t>;
using FloatHistogramSample = BasicHistogramSample<double, double>;

// Reads the layout that starts both kinds of histogram chunk (zero
// threshold, schema, spans, custom bounds). False with `err` set when it
// is malformed or truncated.
bool read_histogram_layout(enc::BitReader& r, HistogramLayout& layout, std::string& err);
uint64_t bucket_count(const std::vector<HistogramSpan>& spans);

// What the readers of all kinds of histogram chunk share: the header
// (sample count, counter reset bits, ST header), the layout, the
// timestamp's delta-of-delta, the start timestamps, and how a malformed
// chunk is reported.
class HistogramChunkReader {
 public:
  // False at the end or on a malformed chunk (see next() of the readers).
  const std::string& err() const { return err_; }
  uint16_t num_samples() const { return num_total_; }
  CounterResetHeader counter_reset_header() const { return header_; }
  const HistogramLayout& layout() const { return layout_; }
  int64_t t() const { return t_; }
  // The current sample's start timestamp; 0 when unknown (always in the
  // plain encodings).
  int64_t st() const { return st_.st(); }
  HistogramFormat format() const { return format_; }

 protected:
  // `kind` names the chunk in messages ("histogram", "float histogram").
  HistogramChunkReader(std::span<const uint8_t> chunk, const char* kind, HistogramFormat format);
  bool done() const { return num_read_ == num_total_ || !err_.empty(); }
  bool fail(const std::string& what);
  // Reads the layout and counts its buckets; each takes at least
  // `min_bits` bits of the first sample, so counts the rest of the chunk
  // cannot back are refused before anything is allocated for them.
  bool read_layout(uint64_t min_bits, uint64_t& positive, uint64_t& negative);
  // Reads a later sample's timestamp (a varbit delta-of-delta).
  bool read_next_timestamp();
  // Reads what follows a sample's payload (its ST in the ST encodings) and
  // counts the sample as read. `prev_t` is the time of the sample before.
  bool finish_sample(int64_t prev_t);

  enc::BitReader stream_;
  uint16_t num_total_ = 0;
  uint16_t num_read_ = 0;
  CounterResetHeader header_ = CounterResetHeader::kUnknown;
  HistogramLayout layout_;
  int64_t t_ = 0, t_delta_ = 0;
  std::string err_;

 private:
  const char* kind_;
  HistogramFormat format_;
  STDecoder st_;
};

class HistogramIterator : public HistogramChunkReader {
 public:
  // Encoding 2, or 5 with HistogramFormat::kWithST.
  explicit HistogramIterator(std::span<const uint8_t> chunk,
                             HistogramFormat format = HistogramFormat::kPlain);

  // Advances to the next sample. False at the end or on a malformed chunk;
  // err() tells them apart. Never reads outside `chunk`.
  bool next();

  // The current sample (t() gives its time). A stale marker has the stale
  // NaN as its sum and no meaningful counts.
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
  bool read_first();
  bool read_next();

  uint64_t count_ = 0, zero_count_ = 0;
  int64_t count_delta_ = 0, zero_count_delta_ = 0;
  XorDecodeState sum_;  // only its value bits and window are used
  // Per bucket: the stored delta from the bucket before, and its change
  // since the last sample; the absolute counts are summed from them.
  std::vector<int64_t> positive_deltas_, negative_deltas_;
  std::vector<int64_t> positive_dods_, negative_dods_;
  std::vector<int64_t> positive_, negative_;
};

// Formats a histogram the way Prometheus's Histogram.String() does:
// {count:N, sum:S, [-b,-a):n, ..., [-z,z]:n, ..., (a,b]:n}, buckets with a
// zero count left out. Bucket bounds follow the schema.
std::string format_histogram(const HistogramSample& h);
// The same for float histograms (FloatHistogram.String(): counts as %g).
std::string format_histogram(const FloatHistogramSample& h);

}  // namespace promblock::chunkenc
