#include "tsdb/chunkenc/float_histogram.h"

#include <bit>

#include "tsdb/chunkenc/varbit.h"

namespace promblock::chunkenc {

FloatHistogramIterator::FloatHistogramIterator(std::span<const uint8_t> chunk,
                                               HistogramFormat format)
    : HistogramChunkReader(
          chunk, format == HistogramFormat::kWithST ? "float histogram-ST" : "float histogram",
          format) {}

bool FloatHistogramIterator::next() {
  if (done()) return false;
  const int64_t prev_t = t_;
  if (!(num_read_ == 0 ? read_first() : read_next())) return false;
  return finish_sample(prev_t);
}

bool FloatHistogramIterator::read_first() {
  uint64_t np, nn;
  // The first sample stores every bucket as 64 raw bits.
  if (!read_layout(64, np, nn)) return false;
  positive_.assign(size_t(np), {});
  negative_.assign(size_t(nn), {});
  if (!read_varbit_int(stream_, t_)) return fail("chunk ends");
  for (XorDecodeState* v : {&count_, &zero_count_, &sum_})
    if (!stream_.read_bits(64, v->v_bits)) return fail("chunk ends");
  for (auto* side : {&positive_, &negative_})
    for (auto& b : *side)
      if (!stream_.read_bits(64, b.v_bits)) return fail("chunk ends");
  return true;
}

bool FloatHistogramIterator::read_next() {
  if (!read_next_timestamp()) return false;
  auto read = [&](XorDecodeState& v) {
    switch (detail::read_value(v, stream_)) {
      case XorStep::kOk:
        return true;
      case XorStep::kBadWindow:
        return fail("invalid XOR window");
      default:
        return fail("chunk ends");
    }
  };
  if (!read(count_) || !read(zero_count_) || !read(sum_)) return false;
  // A stale marker stores no buckets (Prometheus reads none either).
  if (sum_.v_bits == kStaleNaNBits) return true;
  for (auto* side : {&positive_, &negative_})
    for (auto& b : *side)
      if (!read(b)) return false;
  return true;
}

void FloatHistogramIterator::at(FloatHistogramSample& out) const {
  if (sum_.v_bits == kStaleNaNBits) {
    out = FloatHistogramSample{};
    out.sum = std::bit_cast<double>(sum_.v_bits);
    return;
  }
  out.layout = layout_;
  out.count = std::bit_cast<double>(count_.v_bits);
  out.zero_count = std::bit_cast<double>(zero_count_.v_bits);
  out.sum = std::bit_cast<double>(sum_.v_bits);
  out.positive.resize(positive_.size());
  out.negative.resize(negative_.size());
  for (size_t i = 0; i < positive_.size(); ++i)
    out.positive[i] = std::bit_cast<double>(positive_[i].v_bits);
  for (size_t i = 0; i < negative_.size(); ++i)
    out.negative[i] = std::bit_cast<double>(negative_[i].v_bits);
}

}  // namespace promblock::chunkenc
