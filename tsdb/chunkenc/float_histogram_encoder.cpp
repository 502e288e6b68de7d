#include "tsdb/chunkenc/float_histogram_encoder.h"

#include <bit>

#include "tsdb/base/error.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/chunkenc/varbit.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::chunkenc {

void FloatHistogramEncoder::write(XorValue& v, double x) {
  uint64_t bits = std::bit_cast<uint64_t>(x);
  write_xor_value(stream_, bits ^ v.bits, v.leading, v.trailing);
  v.bits = bits;
}

void FloatHistogramEncoder::append(int64_t t, const FloatHistogramSample& sample, int64_t st) {
  check_room("float histogram");
  const bool stale = std::bit_cast<uint64_t>(sample.sum) == kStaleNaNBits;
  if (num_samples_ > 0 && sum_.bits == kStaleNaNBits && !stale)
    throw Error("float histogram chunk: a sample after a stale marker needs a new chunk");
  // A stale marker carries nothing but its sum (and an empty layout when it
  // starts the chunk), as Prometheus writes it.
  FloatHistogramSample stale_sample;
  if (stale) stale_sample.sum = sample.sum;
  const FloatHistogramSample& h = stale ? stale_sample : sample;

  int64_t t_delta = 0;
  if (num_samples_ == 0) {
    write_histogram_layout(stream_, h.layout);
    positive_.assign(h.positive.size(), {});
    negative_.assign(h.negative.size(), {});
    write_varbit_int(stream_, t);
    for (auto [v, x] :
         {std::pair{&count_, h.count}, {&zero_count_, h.zero_count}, {&sum_, h.sum}}) {
      v->bits = std::bit_cast<uint64_t>(x);
      stream_.write_bits(v->bits, 64);
    }
    for (size_t i = 0; i < h.positive.size(); ++i) {
      positive_[i].bits = std::bit_cast<uint64_t>(h.positive[i]);
      stream_.write_bits(positive_[i].bits, 64);
    }
    for (size_t i = 0; i < h.negative.size(); ++i) {
      negative_[i].bits = std::bit_cast<uint64_t>(h.negative[i]);
      stream_.write_bits(negative_[i].bits, 64);
    }
  } else {
    if (h.positive.size() > positive_.size() || h.negative.size() > negative_.size())
      throw Error("float histogram sample does not fit the chunk's bucket layout");
    t_delta = write_next_timestamp(t);
    write(count_, h.count);
    write(zero_count_, h.zero_count);
    write(sum_, h.sum);
    for (size_t i = 0; i < h.positive.size(); ++i) write(positive_[i], h.positive[i]);
    for (size_t i = 0; i < h.negative.size(); ++i) write(negative_[i], h.negative[i]);
  }
  finish_sample(t, st);
  t_ = t, t_delta_ = t_delta;
}

}  // namespace promblock::chunkenc
