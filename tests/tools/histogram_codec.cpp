// Encodes histogram samples with promblock's encoders, for the reference
// decoder test (tests/e2e/test_reference_histogram.py).
//
//   histogram_codec < chunks.json
//
// Input: a JSON list of chunks, each {"encoding": 2|3|5|6, "header":
// "unknown"|"reset"|"not_reset"|"gauge", "samples": [{"t", "st", "h"}]},
// samples as in tests/fixtures/chunks_histogram_st/README.md. Output: each
// chunk's data (without encoding byte, length, CRC) in hex, one a line.
#include <bit>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/histogram_json.h"
#include "tsdb/chunkenc/float_histogram_encoder.h"
#include "tsdb/chunkenc/histogram_encoder.h"

namespace {

using nlohmann::json;
using promblock::chunkenc::testing::spans;
using promblock::chunkenc::testing::to_float;
using namespace promblock::chunkenc;

template <class Sample>
Sample sample_of(const json& h) {
  Sample s;
  s.sum = to_float(h["sum"]);
  s.layout.schema = h.value("schema", 0);
  if (h.contains("zero_threshold")) s.layout.zero_threshold = to_float(h["zero_threshold"]);
  if (h.contains("pos_spans")) s.layout.positive_spans = spans(h["pos_spans"]);
  if (h.contains("neg_spans")) s.layout.negative_spans = spans(h["neg_spans"]);
  if (h.contains("custom_values"))
    for (const auto& v : h["custom_values"]) s.layout.custom_bounds.push_back(to_float(v));
  using C = decltype(s.count);
  using B = typename decltype(s.positive)::value_type;
  if (h.contains("count")) s.count = C(to_float(h["count"]));
  if (h.contains("zero_count")) s.zero_count = C(to_float(h["zero_count"]));
  for (const auto& v : h.value("pos", json::array())) s.positive.push_back(B(to_float(v)));
  for (const auto& v : h.value("neg", json::array())) s.negative.push_back(B(to_float(v)));
  return s;
}

CounterResetHeader header_named(const std::string& s) {
  if (s == "reset") return CounterResetHeader::kCounterReset;
  if (s == "not_reset") return CounterResetHeader::kNotCounterReset;
  if (s == "gauge") return CounterResetHeader::kGauge;
  if (s == "unknown") return CounterResetHeader::kUnknown;
  throw std::runtime_error("bad header " + s);
}

template <class Encoder, class Sample>
std::string encode(const json& chunk, HistogramFormat format) {
  Encoder e(header_named(chunk.value("header", "unknown")), format);
  for (const auto& s : chunk["samples"])
    e.append(s["t"].get<int64_t>(), sample_of<Sample>(s["h"]), s.value("st", int64_t(0)));
  std::string hex;
  char buf[3];
  for (uint8_t b : e.bytes()) std::snprintf(buf, sizeof buf, "%02x", b), hex += buf;
  return hex;
}

}  // namespace

int main() {
  try {
    json chunks = json::parse(std::cin);
    for (const auto& chunk : chunks) {
      int encoding = chunk["encoding"].get<int>();
      auto format = histogram_format_of(uint8_t(encoding));
      if (encoding == 2 || encoding == 5)
        std::cout << encode<HistogramEncoder, HistogramSample>(chunk, format) << '\n';
      else if (encoding == 3 || encoding == 6)
        std::cout << encode<FloatHistogramEncoder, FloatHistogramSample>(chunk, format) << '\n';
      else
        throw std::runtime_error("not a histogram encoding: " + std::to_string(encoding));
    }
  } catch (const std::exception& e) {
    std::cerr << "histogram_codec: " << e.what() << '\n';
    return 1;
  }
}
