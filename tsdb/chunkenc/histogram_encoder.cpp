#include "tsdb/chunkenc/histogram_encoder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <tuple>

#include "tsdb/base/error.h"
#include "tsdb/chunkenc/varbit.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::chunkenc {

namespace {

// Bucket counts as Prometheus stores them: each as the difference to the
// bucket before it (the first one absolute).
std::vector<int64_t> bucket_differences(const std::vector<int64_t>& counts) {
  std::vector<int64_t> out(counts.size());
  uint64_t prev = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    out[i] = int64_t(uint64_t(counts[i]) - prev);
    prev = uint64_t(counts[i]);
  }
  return out;
}

void write_zero_threshold(enc::BitWriter& w, double threshold) {
  // One byte for 0 and for powers of two from 2^-243 to 2^10; else 255
  // and the float.
  if (threshold == 0) return w.write_bits(0, 8);
  int exp;
  double frac = std::frexp(threshold, &exp);
  if (frac != 0.5 || exp < -242 || exp > 11) {
    w.write_bits(255, 8);
    w.write_bits(std::bit_cast<uint64_t>(threshold), 64);
    return;
  }
  w.write_bits(uint64_t(exp + 243), 8);
}

void write_spans(enc::BitWriter& w, const std::vector<HistogramSpan>& spans) {
  write_varbit_uint(w, spans.size());
  for (const auto& s : spans) {
    write_varbit_uint(w, s.length);
    write_varbit_int(w, s.offset);
  }
}

void write_custom_bound(enc::BitWriter& w, double bound) {
  // Bounds of at most three decimals from 0 to 33554.430 as a varbit of
  // bound*1000+1 (which starts with a 1-bit), others as a 0-bit and the
  // float. "Three decimals" as Prometheus tests it: bound*1000 rounded to a
  // whole number and divided by 1000 gives the bound back (1.001 passes,
  // though 1.001*1000 is 1000.9999999999999). NaN fails that test in Go;
  // here it is caught first, as converting it to an integer is UB.
  double scaled = bound * 1000;
  if (std::isnan(bound) || scaled < 0 || scaled > 33554430 ||
      double(uint64_t(std::round(scaled))) / 1000 != bound) {
    w.write_bits(0, 1);
    w.write_bits(std::bit_cast<uint64_t>(bound), 64);
    return;
  }
  write_varbit_uint(w, uint64_t(std::round(scaled)) + 1);
}

}  // namespace

HistogramChunkWriter::HistogramChunkWriter(CounterResetHeader header, HistogramFormat format)
    : format_(format), header_(header) {
  stream_.write_bits(0, 16);  // sample count, patched in by bytes()
  // Flags; in the ST encodings the ST header, patched in by bytes().
  stream_.write_bits(format == HistogramFormat::kWithST ? 0 : uint64_t(header) << 6, 8);
}

void HistogramChunkWriter::check_room(const char* kind) const {
  if (format_ == HistogramFormat::kWithST ? num_samples_ >= kMaxHistogramSTSamples
                                          : num_samples_ == UINT16_MAX)
    throw Error(std::string(kind) + " chunk already holds " + std::to_string(num_samples_) +
                " samples");
}

void HistogramChunkWriter::finish_sample(int64_t t, int64_t st) {
  ++num_samples_;
  if (format_ == HistogramFormat::kWithST) st_.write(stream_, num_samples_, t, t_, st, st_header_);
}

int64_t HistogramChunkWriter::write_next_timestamp(int64_t t) {
  // Unsigned arithmetic: differences wrap as Go's do, without UB. The
  // second sample's plain delta comes out of the same arithmetic.
  int64_t t_delta = int64_t(uint64_t(t) - uint64_t(t_));
  write_varbit_int(stream_, int64_t(uint64_t(t_delta) - uint64_t(t_delta_)));
  return t_delta;
}

std::span<const uint8_t> HistogramChunkWriter::bytes() const {
  auto b = stream_.bytes();
  if (format_ == HistogramFormat::kWithST) {
    uint16_t first = uint16_t(uint16_t(header_) << 14 | num_samples_);
    stream_.patch_be16(0, first);
    stream_.patch_be16(1, uint16_t((first & 0xff) << 8 | st_header_.byte()));
  } else {
    stream_.patch_be16(0, num_samples_);
  }
  return b;
}

void write_histogram_layout(enc::BitWriter& w, const HistogramLayout& layout) {
  write_zero_threshold(w, layout.zero_threshold);
  write_varbit_int(w, layout.schema);
  write_spans(w, layout.positive_spans);
  write_spans(w, layout.negative_spans);
  if (layout.schema == kCustomBucketsSchema) {
    write_varbit_uint(w, layout.custom_bounds.size());
    for (double b : layout.custom_bounds) write_custom_bound(w, b);
  }
}

void HistogramEncoder::append(int64_t t, const HistogramSample& sample, int64_t st) {
  check_room("histogram");
  const uint64_t sum_bits = std::bit_cast<uint64_t>(sample.sum);
  // A stale marker carries nothing but its sum (and an empty layout when it
  // starts the chunk), as Prometheus writes it.
  const bool stale = sum_bits == kStaleNaNBits;
  if (num_samples_ > 0 && sum_bits_ == kStaleNaNBits && !stale)
    throw Error("histogram chunk: a sample after a stale marker needs a new chunk");
  static const HistogramSample kEmpty;
  const HistogramSample& h = stale ? kEmpty : sample;
  const uint64_t count = stale ? 0 : h.count, zero_count = stale ? 0 : h.zero_count;
  const std::vector<int64_t> positive = bucket_differences(h.positive);
  const std::vector<int64_t> negative = bucket_differences(h.negative);

  // Unsigned arithmetic: differences wrap as Go's do, without UB.
  int64_t t_delta = 0, count_delta = 0, zero_count_delta = 0;
  if (num_samples_ == 0) {
    write_histogram_layout(stream_, h.layout);
    positive_.assign(positive.size(), 0), positive_change_.assign(positive.size(), 0);
    negative_.assign(negative.size(), 0), negative_change_.assign(negative.size(), 0);
    write_varbit_int(stream_, t);
    write_varbit_uint(stream_, count);
    write_varbit_uint(stream_, zero_count);
    stream_.write_bits(sum_bits, 64);
    for (int64_t d : positive) write_varbit_int(stream_, d);
    for (int64_t d : negative) write_varbit_int(stream_, d);
  } else {
    if (positive.size() > positive_.size() || negative.size() > negative_.size())
      throw Error("histogram sample does not fit the chunk's bucket layout");
    // The second sample's plain deltas come out of the same arithmetic,
    // since the previous deltas start at zero.
    t_delta = write_next_timestamp(t);
    count_delta = int64_t(count - count_);
    zero_count_delta = int64_t(zero_count - zero_count_);
    int64_t count_dod = int64_t(uint64_t(count_delta) - uint64_t(count_delta_));
    int64_t zero_dod = int64_t(uint64_t(zero_count_delta) - uint64_t(zero_count_delta_));
    if (stale) count_dod = zero_dod = 0;
    write_varbit_int(stream_, count_dod);
    write_varbit_int(stream_, zero_dod);
    write_xor_value(stream_, sum_bits ^ sum_bits_, leading_, trailing_);
    for (auto [now, prev, change] : {std::tuple{&positive, &positive_, &positive_change_},
                                     std::tuple{&negative, &negative_, &negative_change_}}) {
      for (size_t i = 0; i < now->size(); ++i) {
        int64_t delta = int64_t(uint64_t((*now)[i]) - uint64_t((*prev)[i]));
        write_varbit_int(stream_, int64_t(uint64_t(delta) - uint64_t((*change)[i])));
        (*change)[i] = delta;
      }
    }
  }
  finish_sample(t, st);
  t_ = t, count_ = count, zero_count_ = zero_count;
  t_delta_ = t_delta, count_delta_ = count_delta, zero_count_delta_ = zero_count_delta;
  std::copy(positive.begin(), positive.end(), positive_.begin());
  std::copy(negative.begin(), negative.end(), negative_.begin());
  sum_bits_ = sum_bits;
}

}  // namespace promblock::chunkenc
