#include "tsdb/chunkenc/histogram.h"

#include <bit>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tsdb/base/go_format.h"
#include "tsdb/chunkenc/varbit.h"

namespace promblock::chunkenc {

namespace {

constexpr size_t kHeaderSize = 3;  // sample count, flags

bool read_spans(enc::BitReader& r, std::vector<HistogramSpan>& spans) {
  uint64_t n;
  if (!read_varbit_uint(r, n)) return false;
  // Each span takes at least two bits: a count the stream cannot back is
  // refused before anything is allocated for it.
  if (n > r.bits_left() / 2) return false;
  spans.resize(size_t(n));
  for (auto& s : spans) {
    uint64_t length;
    int64_t offset;
    if (!read_varbit_uint(r, length) || !read_varbit_int(r, offset)) return false;
    if (length > UINT32_MAX || offset < INT32_MIN || offset > INT32_MAX) return false;
    s = {int32_t(offset), uint32_t(length)};
  }
  return true;
}

// Go's math.Frexp-based bounds: the upper bound of bucket `index`.
double bucket_upper_bound(int32_t schema, int32_t index, const std::vector<double>& custom) {
  if (schema == kCustomBucketsSchema) {
    if (index < 0) return -INFINITY;
    return size_t(index) < custom.size() ? custom[size_t(index)] : INFINITY;
  }
  if (schema <= 0) return std::ldexp(1.0, int(int64_t(index) << -schema));
  // 2^(index / 2^schema), split into a fraction in [0.5, 1) and an exponent
  // as Prometheus does, so that whole powers of two come out exact.
  int32_t per_octave = int32_t(1) << schema;
  int32_t octave = index >> schema;  // floor division
  int32_t step = index & (per_octave - 1);
  double frac = std::exp2(double(step) / per_octave - 1.0);
  return std::ldexp(frac, octave + 1);
}

}  // namespace

HistogramChunkReader::HistogramChunkReader(std::span<const uint8_t> chunk, const char* kind,
                                           HistogramFormat format)
    : kind_(kind), format_(format) {
  if (chunk.size() < kHeaderSize) {
    err_ = std::string(kind) + " chunk of " + std::to_string(chunk.size()) +
           " bytes is shorter than its header";
    return;
  }
  num_total_ = enc::load_be16(chunk.data());
  header_ = counter_reset_header_of(chunk, format);
  if (format == HistogramFormat::kWithST) {
    num_total_ &= kMaxHistogramSTSamples;
    st_.reset(STHeader::parse(chunk[2]));
  }
  stream_ = enc::BitReader(chunk.subspan(kHeaderSize));
}

bool HistogramChunkReader::finish_sample(int64_t prev_t) {
  if (format_ == HistogramFormat::kWithST &&
      !st_.read(stream_, uint32_t(num_read_) + 1, t_, prev_t))
    return fail("chunk ends in the start timestamp");
  ++num_read_;
  return true;
}

bool HistogramChunkReader::fail(const std::string& what) {
  err_ = what + " in " + kind_ + " chunk sample " + std::to_string(num_read_) + " of " +
         std::to_string(num_total_);
  return false;
}

bool HistogramChunkReader::read_layout(uint64_t min_bits, uint64_t& positive, uint64_t& negative) {
  std::string err;
  if (!read_histogram_layout(stream_, layout_, err)) return fail(err);
  positive = bucket_count(layout_.positive_spans), negative = bucket_count(layout_.negative_spans);
  if (positive + negative > stream_.bits_left() / min_bits)
    return fail("more buckets than the chunk can hold");
  return true;
}

bool HistogramChunkReader::read_next_timestamp() {
  int64_t dod;
  if (!read_varbit_int(stream_, dod)) return fail("chunk ends");
  // Unsigned arithmetic: wraps as Go's does, without UB.
  t_delta_ = int64_t(uint64_t(t_delta_) + uint64_t(dod));
  t_ = int64_t(uint64_t(t_) + uint64_t(t_delta_));
  return true;
}

HistogramIterator::HistogramIterator(std::span<const uint8_t> chunk, HistogramFormat format)
    : HistogramChunkReader(chunk, format == HistogramFormat::kWithST ? "histogram-ST" : "histogram",
                           format) {}

double HistogramIterator::sum() const { return std::bit_cast<double>(sum_.v_bits); }

bool HistogramIterator::next() {
  if (done()) return false;
  const int64_t prev_t = t_;
  if (!(num_read_ == 0 ? read_first() : read_next())) return false;
  return finish_sample(prev_t);
}

bool read_histogram_layout(enc::BitReader& r, HistogramLayout& layout, std::string& err) {
  auto fail = [&](const std::string& what) {
    err = what;
    return false;
  };
  uint64_t byte;
  if (!r.read_bits(8, byte)) return fail("chunk ends in the layout");
  layout.zero_threshold = 0;
  if (byte == 255) {
    uint64_t bits;
    if (!r.read_bits(64, bits)) return fail("chunk ends in the layout");
    layout.zero_threshold = std::bit_cast<double>(bits);
  } else if (byte != 0) {
    layout.zero_threshold = std::ldexp(0.5, int(byte) - 243);
  }
  int64_t schema;
  if (!read_varbit_int(r, schema)) return fail("chunk ends in the layout");
  if (schema != kCustomBucketsSchema && (schema < -4 || schema > 8))
    return fail("unknown histogram schema " + std::to_string(schema));
  layout.schema = int32_t(schema);
  if (!read_spans(r, layout.positive_spans) || !read_spans(r, layout.negative_spans))
    return fail("bad or truncated bucket spans");
  layout.custom_bounds.clear();
  if (layout.schema == kCustomBucketsSchema) {
    uint64_t n;
    if (!read_varbit_uint(r, n) || n > r.bits_left())
      return fail("bad or truncated custom bucket bounds");
    layout.custom_bounds.resize(size_t(n));
    for (auto& bound : layout.custom_bounds) {
      // A 1-bit starts a varbit of bound*1000+1; a 0-bit a raw float64.
      if (r.available(1) < 1) return fail("bad or truncated custom bucket bounds");
      uint64_t bits;
      if (r.peek(1) == 1) {
        if (!read_varbit_uint(r, bits) || bits == 0)
          return fail("bad or truncated custom bucket bounds");
        bound = double(bits - 1) / 1000.0;
      } else {
        r.skip(1);
        if (!r.read_bits(64, bits)) return fail("bad or truncated custom bucket bounds");
        bound = std::bit_cast<double>(bits);
      }
    }
  }
  return true;
}

uint64_t bucket_count(const std::vector<HistogramSpan>& spans) {
  uint64_t n = 0;
  for (const auto& s : spans) n += s.length;
  return n;
}

bool HistogramIterator::read_first() {
  uint64_t np, nn;
  // Every bucket takes at least one bit per sample.
  if (!read_layout(1, np, nn)) return false;
  for (auto* v : {&positive_deltas_, &positive_dods_, &positive_}) v->assign(size_t(np), 0);
  for (auto* v : {&negative_deltas_, &negative_dods_, &negative_}) v->assign(size_t(nn), 0);
  uint64_t sum_bits;
  if (!read_varbit_int(stream_, t_) || !read_varbit_uint(stream_, count_) ||
      !read_varbit_uint(stream_, zero_count_) || !stream_.read_bits(64, sum_bits))
    return fail("chunk ends");
  sum_.v_bits = sum_bits;
  for (auto [deltas, counts] :
       {std::pair{&positive_deltas_, &positive_}, std::pair{&negative_deltas_, &negative_}}) {
    uint64_t current = 0;
    for (size_t i = 0; i < deltas->size(); ++i) {
      if (!read_varbit_int(stream_, (*deltas)[i])) return fail("chunk ends");
      current += uint64_t((*deltas)[i]);
      (*counts)[i] = int64_t(current);
    }
  }
  return true;
}

bool HistogramIterator::read_next() {
  // Unsigned arithmetic throughout: wraps as Go's does, without UB.
  if (!read_next_timestamp()) return false;
  int64_t dod;
  if (!read_varbit_int(stream_, dod)) return fail("chunk ends");
  count_delta_ = int64_t(uint64_t(count_delta_) + uint64_t(dod));
  count_ += uint64_t(count_delta_);
  if (!read_varbit_int(stream_, dod)) return fail("chunk ends");
  zero_count_delta_ = int64_t(uint64_t(zero_count_delta_) + uint64_t(dod));
  zero_count_ += uint64_t(zero_count_delta_);
  switch (detail::read_value(sum_, stream_)) {
    case XorStep::kOk:
      break;
    case XorStep::kBadWindow:
      return fail("invalid XOR window of the sum");
    default:
      return fail("chunk ends");
  }
  // A stale marker stores no buckets (Prometheus reads none either).
  if (sum_.v_bits == kStaleNaNBits) return true;
  for (auto [deltas, dods, counts] : {std::tuple{&positive_deltas_, &positive_dods_, &positive_},
                                      std::tuple{&negative_deltas_, &negative_dods_, &negative_}}) {
    uint64_t current = 0;
    for (size_t i = 0; i < deltas->size(); ++i) {
      if (!read_varbit_int(stream_, dod)) return fail("chunk ends");
      (*dods)[i] = int64_t(uint64_t((*dods)[i]) + uint64_t(dod));
      (*deltas)[i] = int64_t(uint64_t((*deltas)[i]) + uint64_t((*dods)[i]));
      current += uint64_t((*deltas)[i]);
      (*counts)[i] = int64_t(current);
    }
  }
  return true;
}

void HistogramIterator::at(HistogramSample& out) const {
  if (sum_.v_bits == kStaleNaNBits) {
    // Prometheus shows a stale marker as an empty histogram with that sum.
    out = HistogramSample{};
    out.sum = sum();
    return;
  }
  out.layout = layout_;
  out.count = count_;
  out.zero_count = zero_count_;
  out.sum = sum();
  out.positive = positive_;
  out.negative = negative_;
}

namespace {

// Go's fmt of a count: %d for integer counts, %g (shortest) for float ones.
std::string format_count(uint64_t n) { return std::to_string(n); }
std::string format_count(double n) { return go_format_g(n); }

template <class Sample>
std::string format_any_histogram(const Sample& h) {
  using BucketCount = typename decltype(h.positive)::value_type;
  // Go prints integer bucket counts as the uint64 they are.
  auto as_count = [](BucketCount n) {
    if constexpr (std::is_same_v<BucketCount, double>)
      return n;
    else
      return uint64_t(n);
  };
  const HistogramLayout& layout = h.layout;
  std::string out = "{count:" + format_count(h.count) + ", sum:" + go_format_g(h.sum);
  // Buckets by index: span offsets are gaps from the previous span's end
  // (the first one from index 0).
  auto indexed = [](const std::vector<HistogramSpan>& spans,
                    const std::vector<BucketCount>& counts) {
    std::vector<std::pair<int32_t, BucketCount>> out;
    int32_t index = 0;
    size_t k = 0;
    for (size_t s = 0; s < spans.size(); ++s) {
      index += spans[s].offset;
      for (uint32_t j = 0; j < spans[s].length && k < counts.size(); ++j, ++k, ++index)
        out.push_back({index, counts[k]});
    }
    return out;
  };
  auto bucket = [&](char open, double lo, double hi, char close, auto n) {
    return std::string(", ") + open + go_format_g(lo) + "," + go_format_g(hi) + close + ":" +
           format_count(n);
  };
  auto neg = indexed(layout.negative_spans, h.negative);
  for (auto it = neg.rbegin(); it != neg.rend(); ++it) {
    if (it->second == 0) continue;
    double upper = bucket_upper_bound(layout.schema, it->first, layout.custom_bounds);
    double lower = bucket_upper_bound(layout.schema, it->first - 1, layout.custom_bounds);
    out += bucket('[', -upper, -lower, ')', as_count(it->second));
  }
  if (h.zero_count != 0)
    out += bucket('[', -layout.zero_threshold, layout.zero_threshold, ']', h.zero_count);
  for (const auto& [index, n] : indexed(layout.positive_spans, h.positive)) {
    if (n == 0) continue;
    double upper = bucket_upper_bound(layout.schema, index, layout.custom_bounds);
    double lower = bucket_upper_bound(layout.schema, index - 1, layout.custom_bounds);
    out += bucket('(', lower, upper, ']', as_count(n));
  }
  return out + "}";
}

}  // namespace

std::string format_histogram(const HistogramSample& h) { return format_any_histogram(h); }
std::string format_histogram(const FloatHistogramSample& h) { return format_any_histogram(h); }

}  // namespace promblock::chunkenc
