#pragma once
// Reading the histogram fixture JSON (tests/fixtures/chunks_histogram_st/
// README.md): floats, written as numbers or as names for the values JSON
// has none for, and spans. Shared by the unit test and histogram_codec.
#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "tsdb/chunkenc/histogram.h"

namespace promblock::chunkenc::testing {

inline double to_float(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  auto s = j.get<std::string>();
  if (s == "StaleNaN") return std::bit_cast<double>(kStaleNaNBits);
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "-0") return -0.0;
  if (s.rfind("NaN:", 0) == 0) return std::bit_cast<double>(std::stoull(s.substr(4), nullptr, 16));
  throw std::runtime_error("bad float " + s);
}

inline std::vector<HistogramSpan> spans(const nlohmann::json& j) {
  std::vector<HistogramSpan> out;
  for (const auto& s : j) out.push_back({s[0].get<int32_t>(), s[1].get<uint32_t>()});
  return out;
}

}  // namespace promblock::chunkenc::testing
