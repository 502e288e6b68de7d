// promblock analyze: cardinality, churn and chunk cost of every block of the
// given sources, with the numbers `promtool tsdb analyze` prints.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/format.h"
#include "tools/log.h"
#include "tsdb/analyze/analyze.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/block/discover.h"
#include "tsdb/model/selector.h"

namespace promblock::tools {

namespace {

struct AnalyzeArgs {
  std::vector<std::string> sources;
  size_t limit = 20;
  std::string match;
  bool json = false;
};

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string key(const analyze::Ranked& r, bool pair) {
  return pair ? r.name + "=" + r.value : r.name;
}

void list_text(std::string& out, const char* title, const std::vector<analyze::Ranked>& list,
               bool pair) {
  out += "\n";
  out += title;
  out += ":\n";
  for (const auto& r : list) out += std::to_string(r.count) + " " + key(r, pair) + "\n";
}

// promtool's layout (2.42, plus the --match lines of later releases), then
// our chunk section.
std::string render_text(const analyze::BlockAnalysis& a, const std::string& match) {
  std::string out;
  out += "Block ID: " + a.ulid + "\n";
  out += "Duration: " + analyze::go_duration(a.max_time - a.min_time) + "\n";
  out += "Series: " + std::to_string(a.series) + "\n";
  if (a.matched) out += "Matcher: " + match + "\n";
  out += "Label names: " + std::to_string(a.label_names) + "\n";
  if (a.matched) out += "Matched series: " + std::to_string(a.matched_series) + "\n";
  out += "Postings (unique label pairs): " + std::to_string(a.postings) + "\n";
  out += "Postings entries (total label pairs): " + std::to_string(a.postings_entries) + "\n";
  list_text(out, "Label pairs most involved in churning", a.churn_label_pairs, true);
  list_text(out, "Label names most involved in churning", a.churn_label_names, false);
  list_text(out, "Most common label pairs", a.common_label_pairs, true);
  list_text(out, "Label names with highest cumulative label value length", a.label_value_lengths,
            false);
  list_text(out, "Highest cardinality labels", a.label_cardinality, false);
  std::vector<analyze::Ranked> names = a.metric_cardinality;
  for (auto& n : names) n.name = n.value;
  list_text(out, "Highest cardinality metric names", names, false);

  out += "\nMetric names with the most chunk bytes:\n";
  Table t({"SERIES", "CHUNKS", "SAMPLES", "BYTES", "BYTES/SAMPLE", "METRIC"});
  auto row = [&](const analyze::MetricStats& m, const std::string& name) {
    t.add_row({std::to_string(m.series), std::to_string(m.chunks), std::to_string(m.samples),
               std::to_string(m.bytes), fixed2(m.bytes_per_sample()), name});
  };
  for (const auto& m : a.metrics) row(m, m.name.empty() ? "{}" : m.name);
  row(a.total, "(all analyzed series)");
  out += t.render();
  return out;
}

nlohmann::ordered_json metric_json(const analyze::MetricStats& m, bool with_name) {
  nlohmann::ordered_json j;
  if (with_name) j["name"] = m.name;
  j["series"] = m.series;
  j["chunks"] = m.chunks;
  j["samples"] = m.samples;
  j["bytes"] = m.bytes;
  j["bytes_per_sample"] = m.bytes_per_sample();
  return j;
}

nlohmann::ordered_json list_json(const std::vector<analyze::Ranked>& list, bool pair,
                                 const char* count_name) {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& r : list) {
    nlohmann::ordered_json j;
    j["name"] = r.name;
    if (pair) j["value"] = r.value;
    j[count_name] = r.count;
    arr.push_back(std::move(j));
  }
  return arr;
}

std::string render_json(const analyze::BlockAnalysis& a, const std::string& match) {
  nlohmann::ordered_json j;
  j["ulid"] = a.ulid;
  j["min_time"] = a.min_time;
  j["max_time"] = a.max_time;
  j["duration_ms"] = a.max_time - a.min_time;
  j["series"] = a.series;
  if (a.matched) j["matcher"] = match;
  j["matched_series"] = a.matched_series;
  j["label_names"] = a.label_names;
  j["postings"] = a.postings;
  j["postings_entries"] = a.postings_entries;
  j["churn_label_pairs"] = list_json(a.churn_label_pairs, true, "churn");
  j["churn_label_names"] = list_json(a.churn_label_names, false, "churn");
  j["common_label_pairs"] = list_json(a.common_label_pairs, true, "series");
  j["label_value_lengths"] = list_json(a.label_value_lengths, false, "bytes");
  j["label_cardinality"] = list_json(a.label_cardinality, false, "values");
  auto names = nlohmann::ordered_json::array();
  for (const auto& r : a.metric_cardinality)
    names.push_back({{"name", r.value}, {"series", r.count}});
  j["metric_cardinality"] = names;
  j["chunks"] = metric_json(a.total, false);
  auto metrics = nlohmann::ordered_json::array();
  for (const auto& m : a.metrics) metrics.push_back(metric_json(m, true));
  j["metrics"] = metrics;
  // Label values need not be valid UTF-8; JSON strings must be.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

int run_analyze(const AnalyzeArgs& args) {
  analyze::AnalyzeOptions opts;
  opts.limit = args.limit;
  if (!args.match.empty()) opts.matchers = parse_selector(args.match);
  BucketSession session;
  auto found = discover_blocks(session.localize(args.sources));
  if (found.empty()) {
    log_info("no blocks in the given sources; nothing to analyze");
    return kExitOk;
  }
  bool first = true;
  for (const auto& f : found) {
    BlockReader block(f.dir);
    auto a = analyze::analyze_block(block, opts);
    if (args.json) {
      print(render_json(a, args.match));
    } else {
      if (!first) print("\n");
      print(render_text(a, args.match));
    }
    first = false;
    std::fflush(stdout);  // one report per block, as soon as it is done
  }
  return kExitOk;
}

}  // namespace

void register_analyze(CLI::App& app, Runner& run) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* cmd = app.add_subcommand(
      "analyze",
      "Cardinality, churn and chunk cost per block (the numbers `promtool tsdb analyze` prints)");
  cmd->add_option("SOURCE", args->sources,
                  "Block, Prometheus data dir, Thanos bucket dir, or bucket:[PATH]")
      ->required();
  cmd->add_option("--limit", args->limit, "Lines per top list (default 20)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--match", args->match,
                  "Series selector, e.g. '{job=\"api\"}': analyze only the matching series");
  cmd->add_flag("--json", args->json, "One JSON object per block (JSON Lines)");
  cmd->footer(
      "One report per block (promtool analyzes only one), each in promtool's layout with the\n"
      "same numbers, plus chunk bytes and samples per metric name. Ties are ordered by name,\n"
      "then value. Exit status: 0 ok (also no blocks), 1 unreadable block, 2 bad usage.\n"
      "See man promblock-analyze.");
  cmd->callback([args, &run] { run = [args] { return run_analyze(*args); }; });
}

}  // namespace promblock::tools
