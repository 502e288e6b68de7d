#include "tools/run_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "tools/openmetrics.h"

namespace promblock::tools {

RunMetrics& run_metrics() {
  static RunMetrics metrics;
  return metrics;
}

void RunMetrics::set(const std::string& name, const std::string& help, double value,
                     const MetricLabels& labels) {
  auto& f = families_[name];
  if (f.help.empty()) f.help = help;
  f.samples[labels] = value;
}

void RunMetrics::add(const std::string& name, const std::string& help, double delta,
                     const MetricLabels& labels) {
  auto& f = families_[name];
  if (f.help.empty()) f.help = help;
  f.samples[labels] += delta;
}

void RunMetrics::erase(const std::string& name) { families_.erase(name); }

namespace {

// HELP text escapes only backslash and newline.
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void append_labels(std::string& out, const MetricLabels& common, const MetricLabels& own) {
  if (common.empty() && own.empty()) return;
  out += '{';
  bool first = true;
  for (const auto* set : {&common, &own})
    for (const auto& [k, v] : *set) {
      if (!first) out += ',';
      first = false;
      out.append(k).append("=\"");
      openmetrics_append_escaped(out, v);
      out += '"';
    }
  out += '}';
}

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string RunMetrics::render(const MetricLabels& common) const {
  std::string out;
  for (const auto& [name, f] : families_) {
    out.append("# HELP ").append(name).append(" ").append(escape_help(f.help)).append("\n");
    out.append("# TYPE ").append(name).append(" gauge\n");
    for (const auto& [labels, value] : f.samples) {
      out += name;
      append_labels(out, common, labels);
      out.append(" ").append(format_metric_value(value)).append("\n");
    }
  }
  return out;
}

namespace {

// Reads `{a="b",...}` at `pos` (just past '{'); false when malformed.
bool parse_labels(std::string_view line, size_t& pos, MetricLabels& out) {
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == ',')) ++pos;
    if (pos < line.size() && line[pos] == '}') return ++pos, true;
    size_t eq = line.find('=', pos);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    std::string key(line.substr(pos, eq - pos));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    std::string value;
    pos = eq + 2;
    for (; pos < line.size() && line[pos] != '"'; ++pos) {
      if (line[pos] == '\\' && pos + 1 < line.size()) {
        ++pos;
        value += line[pos] == 'n' ? '\n' : line[pos];
      } else {
        value += line[pos];
      }
    }
    if (pos >= line.size()) return false;
    ++pos;  // the closing quote
    out.emplace_back(std::move(key), std::move(value));
  }
  return false;
}

}  // namespace

std::optional<double> find_metric_sample(std::string_view text, std::string_view name,
                                         const MetricLabels& labels) {
  MetricLabels want = labels;
  std::sort(want.begin(), want.end());
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with(name) || line.size() == name.size()) continue;
    size_t pos = name.size();
    MetricLabels got;
    if (line[pos] == '{') {
      ++pos;
      if (!parse_labels(line, pos, got)) continue;
    } else if (line[pos] != ' ') {
      continue;  // a longer name
    }
    std::sort(got.begin(), got.end());
    if (got != want) continue;
    while (pos < line.size() && line[pos] == ' ') ++pos;
    std::string value(line.substr(pos, line.find(' ', pos) - pos));
    if (value.empty()) continue;
    char* stop = nullptr;
    double v = std::strtod(value.c_str(), &stop);
    if (stop == value.c_str() + value.size()) return v;
  }
  return std::nullopt;
}

}  // namespace promblock::tools
