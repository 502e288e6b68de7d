#include "tsdb/openmetrics.h"

#include <cstdlib>
#include <string_view>

namespace promblock {

namespace {

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

bool parses_back(const std::string& s, int64_t ms) {
  double seconds = std::strtod(s.c_str(), nullptr);
  return static_cast<int64_t>(seconds * 1000) == ms;
}

}  // namespace

std::string openmetrics_series(const Labels& labels) {
  std::string out(label_value(labels, "__name__"));
  bool first = true;
  for (const auto& l : labels) {
    if (l.name == "__name__") continue;
    out += first ? '{' : ',';
    first = false;
    out += l.name;
    out += "=\"";
    append_escaped(out, l.value);
    out += '"';
  }
  if (!first) out += '}';
  return out;
}

std::string openmetrics_timestamp(int64_t ms) {
  uint64_t mag = ms < 0 ? uint64_t(0) - uint64_t(ms) : uint64_t(ms);
  std::string s = (ms < 0 ? "-" : "") + std::to_string(mag / 1000);
  unsigned frac = unsigned(mag % 1000);
  std::string digits = std::to_string(1000 + frac).substr(1);  // zero-padded
  std::string exact = s;
  if (frac) {
    while (digits.back() == '0') digits.pop_back();
    exact += "." + digits;
  }
  if (parses_back(exact, ms)) return exact;
  // seconds*1000 landed just below the integer: half a millisecond more in
  // magnitude makes the truncation land on it.
  return s + "." + std::to_string(1000 + frac).substr(1) + "5";
}

}  // namespace promblock
