// Histogram chunks as Prometheus 3.14 writes them: encodings 5 and 6 (with
// start timestamps) and custom buckets (schema -53) in 2, 3, 5 and 6. The
// fixtures (tests/fixtures/chunks_histogram_st, see its README) hold
// Prometheus's own chunk bytes and what its iterators read back from them.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/histogram_json.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/float_histogram_encoder.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/chunkenc/st.h"

namespace promblock::chunkenc {
namespace {

using nlohmann::json;
using promblock::chunkenc::testing::spans;
using promblock::chunkenc::testing::to_float;

const json& cases() {
  static const json c = [] {
    std::ifstream f(std::string(PROMBLOCK_TESTDATA) +
                    "/../tests/fixtures/chunks_histogram_st/cases.json");
    return json::parse(f);
  }();
  return c;
}

std::vector<uint8_t> from_hex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(uint8_t(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

CounterResetHeader header_named(const std::string& s) {
  if (s == "reset") return CounterResetHeader::kCounterReset;
  if (s == "not_reset") return CounterResetHeader::kNotCounterReset;
  if (s == "gauge") return CounterResetHeader::kGauge;
  return CounterResetHeader::kUnknown;
}

template <class Sample>
Sample sample_of(const json& h) {
  Sample s;
  s.sum = to_float(h["sum"]);
  if (std::bit_cast<uint64_t>(s.sum) == kStaleNaNBits) return s;  // as our readers give it
  s.layout.schema = h["schema"].get<int32_t>();
  s.layout.zero_threshold = to_float(h["zero_threshold"]);
  s.layout.positive_spans = spans(h["pos_spans"]);
  s.layout.negative_spans = spans(h["neg_spans"]);
  if (h.contains("custom_values"))
    for (const auto& v : h["custom_values"]) s.layout.custom_bounds.push_back(to_float(v));
  using C = decltype(s.count);
  using B = typename decltype(s.positive)::value_type;
  s.count = C(to_float(h["count"]));
  s.zero_count = C(to_float(h["zero_count"]));
  for (const auto& v : h["pos"]) s.positive.push_back(B(to_float(v)));
  for (const auto& v : h["neg"]) s.negative.push_back(B(to_float(v)));
  return s;
}

uint64_t bits(double x) { return std::bit_cast<uint64_t>(x); }

template <class Sample>
void expect_same(const Sample& got, const Sample& want, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(bits(got.sum), bits(want.sum));
  if (bits(want.sum) == kStaleNaNBits) return;
  EXPECT_EQ(got.layout.schema, want.layout.schema);
  EXPECT_EQ(bits(got.layout.zero_threshold), bits(want.layout.zero_threshold));
  auto span_eq = [](const std::vector<HistogramSpan>& a, const std::vector<HistogramSpan>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].offset != b[i].offset || a[i].length != b[i].length) return false;
    return true;
  };
  EXPECT_TRUE(span_eq(got.layout.positive_spans, want.layout.positive_spans));
  EXPECT_TRUE(span_eq(got.layout.negative_spans, want.layout.negative_spans));
  ASSERT_EQ(got.layout.custom_bounds.size(), want.layout.custom_bounds.size());
  for (size_t i = 0; i < got.layout.custom_bounds.size(); ++i)
    EXPECT_EQ(bits(got.layout.custom_bounds[i]), bits(want.layout.custom_bounds[i])) << i;
  if constexpr (std::is_same_v<Sample, FloatHistogramSample>) {
    EXPECT_EQ(bits(got.count), bits(want.count));
    EXPECT_EQ(bits(got.zero_count), bits(want.zero_count));
    ASSERT_EQ(got.positive.size(), want.positive.size());
    for (size_t i = 0; i < got.positive.size(); ++i)
      EXPECT_EQ(bits(got.positive[i]), bits(want.positive[i]));
    ASSERT_EQ(got.negative.size(), want.negative.size());
    for (size_t i = 0; i < got.negative.size(); ++i)
      EXPECT_EQ(bits(got.negative[i]), bits(want.negative[i]));
  } else {
    EXPECT_EQ(got.count, want.count);
    EXPECT_EQ(got.zero_count, want.zero_count);
    EXPECT_EQ(got.positive, want.positive);
    EXPECT_EQ(got.negative, want.negative);
  }
}

HistogramFormat format_of(int encoding) {
  return encoding >= 5 ? HistogramFormat::kWithST : HistogramFormat::kPlain;
}
bool is_float(int encoding) { return encoding == 3 || encoding == 6; }

template <class Iterator, class Sample, class Encoder>
void check_chunk(const json& chunk, const std::string& where) {
  const int encoding = chunk["encoding"].get<int>();
  const auto data = from_hex(chunk["hex"].get<std::string>());
  const auto& want = chunk["samples"];
  // Decode.
  Iterator it(data, format_of(encoding));
  EXPECT_EQ(it.num_samples(), want.size()) << where;
  EXPECT_EQ(it.counter_reset_header(), header_named(chunk["header"])) << where;
  EXPECT_EQ(counter_reset_header_of(data, format_of(encoding)), header_named(chunk["header"]));
  Sample got;
  size_t n = 0;
  while (it.next()) {
    ASSERT_LT(n, want.size()) << where;
    const std::string at = where + " sample " + std::to_string(n);
    EXPECT_EQ(it.t(), want[n]["t"].get<int64_t>()) << at;
    EXPECT_EQ(it.st(), want[n]["st"].get<int64_t>()) << at;
    it.at(got);
    expect_same(got, sample_of<Sample>(want[n]["h"]), at);
    ++n;
  }
  EXPECT_EQ(it.err(), "") << where;
  EXPECT_EQ(n, want.size()) << where;
  // Encode what Prometheus read back: the same bytes.
  Encoder e(header_named(chunk["header"]), format_of(encoding));
  for (const auto& s : want)
    e.append(s["t"].get<int64_t>(), sample_of<Sample>(s["h"]), s["st"].get<int64_t>());
  auto out = e.bytes();
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), data) << where << " (encoded)";
}

void for_each_chunk(const std::function<void(const json&, const std::string&)>& f) {
  ASSERT_GT(cases().size(), 100u);
  for (const auto& c : cases()) {
    size_t i = 0;
    for (const auto& chunk : c["chunks"])
      f(chunk, c["name"].get<std::string>() + " chunk " + std::to_string(i++));
  }
}

TEST(HistogramST, FixturesDecodeAndEncodeAsPrometheus) {
  for_each_chunk([](const json& chunk, const std::string& where) {
    if (is_float(chunk["encoding"].get<int>()))
      check_chunk<FloatHistogramIterator, FloatHistogramSample, FloatHistogramEncoder>(chunk,
                                                                                       where);
    else
      check_chunk<HistogramIterator, HistogramSample, HistogramEncoder>(chunk, where);
  });
}

template <class Iterator, class Sample>
size_t decode_all(std::span<const uint8_t> data, HistogramFormat format) {
  Iterator it(data, format);
  Sample s;
  size_t n = 0;
  while (it.next()) it.at(s), ++n;
  return n;
}

size_t decode_any(std::span<const uint8_t> data, int encoding) {
  return is_float(encoding)
             ? decode_all<FloatHistogramIterator, FloatHistogramSample>(data, format_of(encoding))
             : decode_all<HistogramIterator, HistogramSample>(data, format_of(encoding));
}

TEST(HistogramST, TruncatedChunksFailCleanly) {
  for_each_chunk([](const json& chunk, const std::string& where) {
    const int encoding = chunk["encoding"].get<int>();
    const auto data = from_hex(chunk["hex"].get<std::string>());
    if (data.size() > 400) return;
    for (size_t len = 0; len < data.size(); ++len) {
      // Cut copies, so that reading past the end is caught by sanitizers.
      std::vector<uint8_t> cut(data.begin(), data.begin() + ptrdiff_t(len));
      EXPECT_LE(decode_any(cut, encoding), chunk["samples"].size()) << where << " at " << len;
    }
  });
}

TEST(HistogramST, BitFlipsNeverCrash) {
  for_each_chunk([](const json& chunk, const std::string&) {
    const int encoding = chunk["encoding"].get<int>();
    auto data = from_hex(chunk["hex"].get<std::string>());
    if (data.size() > 120) return;
    for (size_t bit = 0; bit < data.size() * 8; ++bit) {
      data[bit / 8] ^= uint8_t(0x80 >> bit % 8);
      decode_any(data, encoding);
      decode_any(data, encoding == 5 ? 2 : encoding == 6 ? 3 : encoding + 3);
      data[bit / 8] ^= uint8_t(0x80 >> bit % 8);
    }
  });
}

TEST(HistogramST, HeaderKeepsCounterResetApartFromCount) {
  HistogramEncoder e(CounterResetHeader::kGauge, HistogramFormat::kWithST);
  HistogramSample h;
  h.count = 1;
  h.sum = 1;
  for (int i = 0; i < 300; ++i) e.append(i * 1000, h, 5);
  auto b = e.bytes();
  EXPECT_EQ(b[0] >> 6, 3);
  EXPECT_EQ((b[0] & 0x3f) << 8 | b[1], 300);
  // The first ST is known; the 128th sample starts storing them all.
  EXPECT_EQ(b[2], 0x80 | 127);
  HistogramIterator it(b, HistogramFormat::kWithST);
  int n = 0;
  while (it.next()) {
    EXPECT_EQ(it.st(), 5) << n;
    ++n;
  }
  EXPECT_EQ(it.err(), "");
  EXPECT_EQ(n, 300);
}

TEST(HistogramST, EncoderStopsAt14BitCount) {
  FloatHistogramEncoder e(CounterResetHeader::kUnknown, HistogramFormat::kWithST);
  FloatHistogramSample h;
  for (int i = 0; i < kMaxHistogramSTSamples; ++i) e.append(i, h);
  EXPECT_THROW(e.append(kMaxHistogramSTSamples, h), Error);
  FloatHistogramIterator it(e.bytes(), HistogramFormat::kWithST);
  EXPECT_EQ(it.num_samples(), kMaxHistogramSTSamples);
}

TEST(HistogramST, OverlongStartTimestampVarintFails) {
  // One sample whose ST (first known) is a varint that never ends.
  enc::BitWriter w;
  w.write_bits(1, 16);    // counter reset unknown, one sample
  w.write_bits(0x80, 8);  // first ST known
  write_histogram_layout(w, HistogramLayout{});
  w.write_bits(0, 1 + 1 + 1);  // varbit t, count and zero count: 0
  w.write_bits(0, 64);         // sum
  for (int i = 0; i < 11; ++i) w.write_byte(0xff);
  auto b = w.bytes();
  HistogramIterator it(b, HistogramFormat::kWithST);
  EXPECT_FALSE(it.next());
  EXPECT_NE(it.err().find("start timestamp"), std::string::npos) << it.err();
  // The same with a varint's end: ST = t - (-1).
  enc::BitWriter w2;
  w2.write_bits(1, 16);
  w2.write_bits(0x80, 8);
  write_histogram_layout(w2, HistogramLayout{});
  w2.write_bits(0, 3);
  w2.write_bits(0, 64);
  w2.write_byte(0x01);
  auto b2 = w2.bytes();
  HistogramIterator it2(b2, HistogramFormat::kWithST);
  ASSERT_TRUE(it2.next()) << it2.err();
  EXPECT_EQ(it2.st(), 1);
}

TEST(CustomBounds, ThousandthsAsPrometheusTellsThem) {
  // Prometheus stores a bound as varbit(bound * 1000 + 1) when rounding it
  // to thousandths gives it back (1.001 * 1000 is 1000.9999999999999, yet
  // 1.001 counts), as a 0-bit and the float otherwise (negative, too many
  // decimals, above 33554.430, infinite, NaN).
  auto bits_for = [](double bound) {
    enc::BitWriter w;
    HistogramLayout l;
    l.schema = kCustomBucketsSchema;
    l.custom_bounds = {bound};
    write_histogram_layout(w, l);
    enc::BitReader r(w.bytes());
    HistogramLayout back;
    std::string err;
    EXPECT_TRUE(read_histogram_layout(r, back, err)) << err;
    EXPECT_EQ(back.custom_bounds.size(), 1u);
    if (!back.custom_bounds.empty()) {
      EXPECT_EQ(std::bit_cast<uint64_t>(back.custom_bounds[0]), std::bit_cast<uint64_t>(bound));
    }
    return w.bytes().size();
  };
  // A bound as a float takes 65 bits, as thousandths at most 32.
  const size_t as_float = bits_for(1e300);
  for (double t : {0.0, 0.3, 1.0, 1.001, 2.675, 33554.43}) EXPECT_LT(bits_for(t), as_float) << t;
  for (double f : {33554.431, -0.5, 1e-9, 0.0005, double(INFINITY), -double(INFINITY), double(NAN)})
    EXPECT_EQ(bits_for(f), as_float) << f;
}

TEST(HistogramST, CounterResetHeaderSitsInTheFirstByte) {
  const std::vector<uint8_t> st = {0x80, 0x05, 0x00}, plain = {0x00, 0x05, 0x40};
  EXPECT_EQ(counter_reset_header_of(st, HistogramFormat::kWithST),
            CounterResetHeader::kCounterReset);
  EXPECT_EQ(counter_reset_header_of(plain), CounterResetHeader::kNotCounterReset);
  HistogramIterator it(st, HistogramFormat::kWithST);
  EXPECT_EQ(it.num_samples(), 5);
  EXPECT_EQ(it.counter_reset_header(), CounterResetHeader::kCounterReset);
}

}  // namespace
}  // namespace promblock::chunkenc
