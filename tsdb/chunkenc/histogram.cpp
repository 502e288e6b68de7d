#include "tsdb/chunkenc/histogram.h"

#include <bit>
#include <cmath>
#include <tuple>
#include <utility>

#include "tsdb/chunkenc/varbit.h"
#include "tsdb/go_format.h"

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

uint64_t bucket_count(const std::vector<HistogramSpan>& spans) {
  uint64_t n = 0;
  for (const auto& s : spans) n += s.length;
  return n;
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

HistogramIterator::HistogramIterator(std::span<const uint8_t> chunk) {
  if (chunk.size() < kHeaderSize) {
    err_ =
        "histogram chunk of " + std::to_string(chunk.size()) + " bytes is shorter than its header";
    return;
  }
  num_total_ = enc::load_be16(chunk.data());
  header_ = CounterResetHeader(chunk[2] >> 6);
  stream_ = enc::BitReader(chunk.subspan(kHeaderSize));
}

double HistogramIterator::sum() const { return std::bit_cast<double>(sum_.v_bits); }

bool HistogramIterator::fail(const std::string& what) {
  err_ = what + " in histogram chunk sample " + std::to_string(num_read_) + " of " +
         std::to_string(num_total_);
  return false;
}

bool HistogramIterator::next() {
  if (num_read_ == num_total_ || !err_.empty()) return false;
  bool ok = num_read_ == 0 ? read_layout() && read_first() : read_next();
  if (!ok) return false;
  ++num_read_;
  return true;
}

bool HistogramIterator::read_layout() {
  uint64_t byte;
  if (!stream_.read_bits(8, byte)) return fail("chunk ends in the layout");
  if (byte == 255) {
    uint64_t bits;
    if (!stream_.read_bits(64, bits)) return fail("chunk ends in the layout");
    layout_.zero_threshold = std::bit_cast<double>(bits);
  } else if (byte != 0) {
    layout_.zero_threshold = std::ldexp(0.5, int(byte) - 243);
  }
  int64_t schema;
  if (!read_varbit_int(stream_, schema)) return fail("chunk ends in the layout");
  if (schema != kCustomBucketsSchema && (schema < -4 || schema > 8))
    return fail("unknown histogram schema " + std::to_string(schema));
  layout_.schema = int32_t(schema);
  if (!read_spans(stream_, layout_.positive_spans) || !read_spans(stream_, layout_.negative_spans))
    return fail("bad or truncated bucket spans");
  if (layout_.schema == kCustomBucketsSchema) {
    uint64_t n;
    if (!read_varbit_uint(stream_, n) || n > stream_.bits_left())
      return fail("bad or truncated custom bucket bounds");
    layout_.custom_bounds.resize(size_t(n));
    for (auto& bound : layout_.custom_bounds) {
      // A 1-bit starts a varbit of bound*1000+1; a 0-bit a raw float64.
      if (stream_.available(1) < 1) return fail("bad or truncated custom bucket bounds");
      uint64_t bits;
      if (stream_.peek(1) == 1) {
        if (!read_varbit_uint(stream_, bits) || bits == 0)
          return fail("bad or truncated custom bucket bounds");
        bound = double(bits - 1) / 1000.0;
      } else {
        stream_.skip(1);
        if (!stream_.read_bits(64, bits)) return fail("bad or truncated custom bucket bounds");
        bound = std::bit_cast<double>(bits);
      }
    }
  }
  uint64_t np = bucket_count(layout_.positive_spans), nn = bucket_count(layout_.negative_spans);
  // Every bucket takes at least one bit per sample.
  if (np + nn > stream_.bits_left()) return fail("more buckets than the chunk can hold");
  for (auto* v : {&positive_deltas_, &positive_dods_, &positive_}) v->assign(size_t(np), 0);
  for (auto* v : {&negative_deltas_, &negative_dods_, &negative_}) v->assign(size_t(nn), 0);
  return true;
}

bool HistogramIterator::read_first() {
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
  int64_t dod;
  if (!read_varbit_int(stream_, dod)) return fail("chunk ends");
  t_delta_ = int64_t(uint64_t(t_delta_) + uint64_t(dod));
  t_ = int64_t(uint64_t(t_) + uint64_t(t_delta_));
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

std::string format_histogram(const HistogramSample& h) {
  const HistogramLayout& layout = h.layout;
  std::string out = "{count:" + std::to_string(h.count) + ", sum:" + go_format_g(h.sum);
  // Buckets by index: span offsets are gaps from the previous span's end
  // (the first one from index 0).
  auto indexed = [](const std::vector<HistogramSpan>& spans, const std::vector<int64_t>& counts) {
    std::vector<std::pair<int32_t, int64_t>> out;
    int32_t index = 0;
    size_t k = 0;
    for (size_t s = 0; s < spans.size(); ++s) {
      index += spans[s].offset;
      for (uint32_t j = 0; j < spans[s].length && k < counts.size(); ++j, ++k, ++index)
        out.push_back({index, counts[k]});
    }
    return out;
  };
  auto bucket = [&](char open, double lo, double hi, char close, int64_t n) {
    return std::string(", ") + open + go_format_g(lo) + "," + go_format_g(hi) + close + ":" +
           std::to_string(uint64_t(n));  // Go prints the uint64 count
  };
  auto neg = indexed(layout.negative_spans, h.negative);
  for (auto it = neg.rbegin(); it != neg.rend(); ++it) {
    if (it->second == 0) continue;
    double upper = bucket_upper_bound(layout.schema, it->first, layout.custom_bounds);
    double lower = bucket_upper_bound(layout.schema, it->first - 1, layout.custom_bounds);
    out += bucket('[', -upper, -lower, ')', it->second);
  }
  if (h.zero_count != 0)
    out += bucket('[', -layout.zero_threshold, layout.zero_threshold, ']', int64_t(h.zero_count));
  for (const auto& [index, n] : indexed(layout.positive_spans, h.positive)) {
    if (n == 0) continue;
    double upper = bucket_upper_bound(layout.schema, index, layout.custom_bounds);
    double lower = bucket_upper_bound(layout.schema, index - 1, layout.custom_bounds);
    out += bucket('(', lower, upper, ']', n);
  }
  return out + "}";
}

}  // namespace promblock::chunkenc
