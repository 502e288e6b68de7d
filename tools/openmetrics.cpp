#include "tools/openmetrics.h"

#include <cstdlib>
#include <string_view>

namespace promblock {

void openmetrics_append_escaped(std::string& out, std::string_view v) {
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

namespace {

bool parses_back(const std::string& s, int64_t ms) {
  double seconds = std::strtod(s.c_str(), nullptr);
  return static_cast<int64_t>(seconds * 1000) == ms;
}

}  // namespace

std::string openmetrics_series(const Labels& labels) {
  // Names outside the legacy metric-name charset are written in double
  // quotes, a quoted metric name inside the braces, as Prometheus 3's
  // encoder (prometheus/common expfmt) writes them: {"my.metric","a.b"="c"}.
  auto append_name = [](std::string& out, std::string_view name) {
    if (is_legacy_metric_name(name)) {
      out += name;
      return;
    }
    out += '"';
    openmetrics_append_escaped(out, name);
    out += '"';
  };
  std::string_view metric = label_value(labels, "__name__");
  std::string out;
  bool open = false;
  if (!metric.empty() && !is_legacy_metric_name(metric)) {
    out += '{';
    append_name(out, metric);
    open = true;
  } else {
    out += metric;
  }
  for (const auto& l : labels) {
    if (l.name == "__name__") continue;
    out += open ? ',' : '{';
    open = true;
    append_name(out, l.name);
    out += "=\"";
    openmetrics_append_escaped(out, l.value);
    out += '"';
  }
  if (open) out += '}';
  return out;
}

std::string openmetrics_timestamp(int64_t ms) {
  uint64_t mag = ms < 0 ? uint64_t(0) - uint64_t(ms) : uint64_t(ms);
  std::string s = ms < 0 ? "-" : "";
  s += std::to_string(mag / 1000);
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
