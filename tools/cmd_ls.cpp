// promblock ls: one row per block of the given sources.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/command.h"
#include "tools/format.h"
#include "tsdb/block/discover.h"
#include "tsdb/model/timeparse.h"

namespace promblock::tools {

namespace {

struct LsOptions {
  std::vector<std::string> sources;
  bool json = false;
};

uint64_t dir_size(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

std::vector<std::string> marks_of(const FoundBlock& b) {
  std::vector<std::string> marks;
  if (b.deletion_marked) marks.push_back("deletion");
  if (b.no_compact_marked) marks.push_back("no-compact");
  return marks;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

int run_ls(const LsOptions& opt) {
  auto blocks = discover_blocks(opt.sources);
  if (opt.json) {
    for (const auto& b : blocks) {
      const auto& m = b.meta;
      nlohmann::ordered_json j;
      j["ulid"] = m.ulid;
      j["min_time"] = m.min_time;
      j["max_time"] = m.max_time;
      j["duration_ms"] = m.max_time - m.min_time;
      j["num_series"] = m.stats.num_series;
      j["num_samples"] = m.stats.num_samples;
      j["num_chunks"] = m.stats.num_chunks;
      j["size_bytes"] = dir_size(b.dir);
      j["level"] = m.level;
      j["external_labels"] = m.external_labels();
      j["marks"] = marks_of(b);
      j["path"] = b.dir;
      std::string line = j.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return kExitOk;
  }
  Table table({"ULID", "MIN TIME", "MAX TIME", "DURATION", "SERIES", "SAMPLES", "CHUNKS", "SIZE",
               "LEVEL", "LABELS", "MARKS"});
  for (const auto& b : blocks) {
    const auto& m = b.meta;
    std::vector<std::string> labels;
    for (const auto& [k, v] : m.external_labels()) labels.push_back(k + "=" + v);
    auto marks = marks_of(b);
    table.add_row({m.ulid, format_rfc3339_ms(m.min_time) + " (" + std::to_string(m.min_time) + ")",
                   format_rfc3339_ms(m.max_time) + " (" + std::to_string(m.max_time) + ")",
                   format_duration_ms(m.max_time - m.min_time), std::to_string(m.stats.num_series),
                   std::to_string(m.stats.num_samples), std::to_string(m.stats.num_chunks),
                   format_bytes(dir_size(b.dir)), std::to_string(m.level),
                   labels.empty() ? "-" : join(labels, ","),
                   marks.empty() ? "-" : join(marks, ",")});
  }
  std::string text = table.render();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace

void register_ls(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<LsOptions>();
  auto* cmd = app.add_subcommand("ls", "List the blocks of the given sources, one row per block");
  cmd->add_option("SOURCE", opt->sources, "Block, Prometheus data dir or Thanos bucket dir")
      ->required();
  cmd->add_flag("--json", opt->json, "One JSON object per line (times in ms)");
  cmd->callback([opt, &run] { run = [opt] { return run_ls(*opt); }; });
}

}  // namespace promblock::tools
