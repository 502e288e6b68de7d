// promblock ls: one row per block of the given sources.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/format.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/block/discover.h"
#include "tsdb/model/timeparse.h"

namespace promblock::tools {

namespace {

struct LsOptions {
  std::vector<std::string> sources;
  bool json = false;
};

// One block as ls shows it, wherever it lives.
struct Row {
  BlockMeta meta;
  uint64_t size = 0;
  std::vector<std::string> marks;
  std::string path;
};

std::vector<std::string> marks_of(bool deletion, bool no_compact) {
  std::vector<std::string> marks;
  if (deletion) marks.push_back("deletion");
  if (no_compact) marks.push_back("no-compact");
  return marks;
}

std::vector<Row> rows_of(const std::vector<std::string>& sources, BucketSession& session) {
  std::vector<Row> rows;
  for (const auto& source : sources) {
    if (is_bucket_arg(source)) {
      // From the bucket's listing and meta.json objects: nothing is downloaded.
      for (auto& b : session.list(source).blocks)
        rows.push_back({std::move(b.meta), b.size_bytes(),
                        marks_of(b.deletion_marked, b.no_compact_marked),
                        session.bucket().describe_object(b.prefix.substr(0, b.prefix.size() - 1))});
      continue;
    }
    for (auto& b : discover_blocks(source))
      rows.push_back({std::move(b.meta), fsutil::tree_bytes(b.dir),
                      marks_of(b.deletion_marked, b.no_compact_marked), b.dir});
  }
  return rows;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

void print_json(const std::vector<Row>& rows) {
  for (const auto& r : rows) {
    const auto& m = r.meta;
    nlohmann::ordered_json j;
    j["ulid"] = m.ulid;
    j["min_time"] = m.min_time;
    j["max_time"] = m.max_time;
    j["duration_ms"] = m.max_time - m.min_time;
    j["num_series"] = m.stats.num_series;
    j["num_samples"] = m.stats.num_samples;
    j["num_chunks"] = m.stats.num_chunks;
    j["size_bytes"] = r.size;
    j["level"] = m.level;
    j["external_labels"] = m.external_labels();
    j["marks"] = r.marks;
    j["path"] = r.path;
    std::string line = j.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
}

void print_table(const std::vector<Row>& rows) {
  Table table({"ULID", "MIN TIME", "MAX TIME", "DURATION", "SERIES", "SAMPLES", "CHUNKS", "SIZE",
               "LEVEL", "LABELS", "MARKS"});
  for (const auto& r : rows) {
    const auto& m = r.meta;
    std::vector<std::string> labels;
    for (const auto& [k, v] : m.external_labels()) labels.push_back(k + "=" + v);
    table.add_row({m.ulid, format_rfc3339_ms(m.min_time) + " (" + std::to_string(m.min_time) + ")",
                   format_rfc3339_ms(m.max_time) + " (" + std::to_string(m.max_time) + ")",
                   format_duration_ms(m.max_time - m.min_time), std::to_string(m.stats.num_series),
                   std::to_string(m.stats.num_samples), std::to_string(m.stats.num_chunks),
                   format_bytes(r.size), std::to_string(m.level),
                   labels.empty() ? "-" : join(labels, ","),
                   r.marks.empty() ? "-" : join(r.marks, ",")});
  }
  std::string text = table.render();
  std::fwrite(text.data(), 1, text.size(), stdout);
}

int run_ls(const LsOptions& opt) {
  BucketSession session;
  auto rows = rows_of(opt.sources, session);
  if (opt.json)
    print_json(rows);
  else
    print_table(rows);
  return kExitOk;
}

}  // namespace

void register_ls(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<LsOptions>();
  auto* cmd = app.add_subcommand("ls", "List the blocks of the given sources, one row per block");
  cmd->add_option("SOURCE", opt->sources,
                  "Block, Prometheus data dir, Thanos bucket dir, or bucket:[PATH]")
      ->required();
  cmd->add_flag("--json", opt->json, "One JSON object per line (times in ms)");
  cmd->callback([opt, &run] { run = [opt] { return run_ls(*opt); }; });
}

}  // namespace promblock::tools
