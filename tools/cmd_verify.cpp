// promblock verify: checks every block of the given sources and prints one
// line (or JSON object) per problem found; the summary goes to stderr.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/log.h"
#include "tsdb/base/error.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/meta.h"
#include "tsdb/remote/block_transfer.h"
#include "tsdb/verify/verify.h"

namespace promblock::tools {

namespace {

namespace fs = std::filesystem;

struct VerifyOptions {
  std::vector<std::string> sources;
  bool deep = false;
  bool json = false;
  bool no_overlaps = false;
};

struct Candidate {
  std::string dir;
  std::string source;
  bool partial = false;  // a ULID dir without meta.json: reported, not read
  std::string shown;     // the path problems name, when not `dir` (a bucket's block)
  const std::string& path() const { return shown.empty() ? dir : shown; }
};

class Printer {
 public:
  explicit Printer(bool json) : json_(json) {}

  void print(const std::string& dir, const std::string& ulid, const verify::Problem& p) {
    const bool warn = p.severity == verify::Severity::kWarning;
    (warn ? warnings_ : errors_)++;
    record_verify_problem(p);
    std::string line;
    if (json_) {
      nlohmann::ordered_json j;
      j["block"] = ulid;
      j["path"] = dir;
      j["file"] = p.file;
      j["series"] =
          p.series.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(p.series);
      j["problem"] = p.what;
      j["severity"] = warn ? "warning" : "error";
      line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    } else {
      line = dir + "/" + p.file + ": " + (warn ? "warning: " : "") +
             (p.series.empty() ? "" : "series " + p.series + ": ") + p.what + "\n";
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
  }

  uint64_t errors() const { return errors_; }
  uint64_t warnings() const { return warnings_; }

 private:
  bool json_;
  uint64_t errors_ = 0;
  uint64_t warnings_ = 0;
};

std::string strip_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Like discover_blocks, but a block whose meta.json is damaged is still a
// block to check (and report), not a reason to stop.
bool find_blocks(const std::string& source, std::vector<Candidate>& out) {
  std::error_code ec;
  auto st = fs::status(source, ec);
  if (ec || !fs::exists(st)) {
    log_error(source + ": no such file or directory");
    return false;
  }
  if (!fs::is_directory(st)) {
    log_error(source + ": not a directory");
    return false;
  }
  if (fs::exists(source + "/meta.json", ec)) {
    out.push_back({source, source, false, ""});
    return true;
  }
  std::vector<Candidate> found;
  for (fs::directory_iterator it(source, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!is_ulid(name) || !it->is_directory(ec)) continue;
    found.push_back({source + "/" + name, source, !fs::exists(it->path() / "meta.json", ec), ""});
  }
  if (ec) {
    log_error(source + ": cannot list directory: " + ec.message());
    return false;
  }
  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.dir < b.dir; });
  out.insert(out.end(), found.begin(), found.end());
  return true;
}

// A bucket's blocks, downloaded to check them as directories. A block that
// fails to download (a missing or short object) is a problem of that block.
void find_bucket_blocks(const std::string& source, BucketSession& session, Printer& printer,
                        std::vector<Candidate>& out) {
  auto listing = session.list(source, /*keep_unreadable=*/true);
  auto& bucket = session.bucket();
  std::string dir = session.scratch_subdir("verify");
  auto shown = [&](const std::string& prefix) {
    return bucket.describe_object(prefix.substr(0, prefix.size() - 1));
  };
  std::vector<Candidate> found;
  for (const auto& b : listing.blocks) {
    try {
      found.push_back({remote::download_block(bucket, b, dir), source, false, shown(b.prefix)});
    } catch (const Error& e) {
      std::string file = e.path().substr(std::min(e.path().size(), shown(b.prefix).size() + 1));
      printer.print(shown(b.prefix), remote::last_component(b.prefix),
                    {file, "", e.detail(), verify::Severity::kError, "block download failed", 1});
    }
  }
  for (const auto& u : listing.unreadable) {
    std::string local = dir + "/" + u.where.ulid;
    remote::download_objects(bucket, u.where.prefix, u.where.objects, local);
    found.push_back({local, source, false, shown(u.where.prefix)});
  }
  for (const auto& p : listing.partials)
    found.push_back({dir + "/" + p.ulid, source, true, shown(p.prefix)});
  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.path() < b.path(); });
  out.insert(out.end(), found.begin(), found.end());
}

std::string group_of(const BlockMeta& meta, const std::string& source) {
  auto labels = meta.external_labels();
  // Without external labels, each source is its own group (plain HA
  // Prometheus data dirs overlap each other by design).
  if (labels.empty()) return "source " + source;
  std::string g = "{";
  for (const auto& [k, v] : labels) g += (g.size() > 1 ? "," : "") + k + "=\"" + v + "\"";
  return g + "}";
}

int run_verify(const VerifyOptions& opt) {
  bool sources_ok = true;
  std::vector<Candidate> blocks;
  Printer printer(opt.json);
  BucketSession session;
  for (const auto& s : opt.sources) {
    if (is_bucket_arg(s))
      find_bucket_blocks(s, session, printer, blocks);
    else
      sources_ok &= find_blocks(strip_slashes(s), blocks);
  }
  verify::Options vopt;
  vopt.deep = opt.deep;
  std::vector<verify::BlockRange> ranges;
  std::vector<size_t> range_block;  // index into blocks
  std::vector<std::string> ulids(blocks.size());
  size_t verified = 0;
  {
    Progress progress("verifying block", blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Candidate& c = blocks[i];
      ulids[i] = fs::path(c.dir).filename().string();
      if (c.partial) {
        printer.print(c.path(), ulids[i],
                      {"meta.json", "",
                       "no meta.json: a partial block (write or upload cut short), not checked",
                       verify::Severity::kWarning, "partial block", 1});
        continue;
      }
      progress.update(i);
      verify::Report report(
          [&](const verify::Problem& p) { printer.print(c.path(), ulids[i], p); });
      auto res = verify::verify_block(c.dir, vopt, report);
      report.finish();
      ulids[i] = res.ulid;
      ++verified;
      if (res.meta && !fs::exists(c.dir + "/deletion-mark.json")) {
        ranges.push_back(
            {group_of(*res.meta, c.source), res.ulid, res.meta->min_time, res.meta->max_time});
        range_block.push_back(i);
      }
    }
  }  // the progress line is cleared

  for (auto [a, b] : verify::find_overlaps(ranges)) {
    const auto& ra = ranges[a];
    const auto& rb = ranges[b];
    std::string group = rb.group.starts_with("source ") ? "" : " (group " + rb.group + ")";
    printer.print(
        blocks[range_block[b]].path(), rb.ulid,
        {"meta.json", "",
         "time range [" + std::to_string(rb.min_time) + ", " + std::to_string(rb.max_time) +
             ") overlaps block " + ra.ulid + " [" + std::to_string(ra.min_time) + ", " +
             std::to_string(ra.max_time) + ")" + group,
         opt.no_overlaps ? verify::Severity::kError : verify::Severity::kWarning,
         "overlapping blocks", 1});
  }

  uint64_t problems = printer.errors() + printer.warnings();
  record_verify_blocks(verified);
  log_info("verified " + std::to_string(verified) + " block" + (verified == 1 ? "" : "s") + ": " +
           std::to_string(problems) + " problem" + (problems == 1 ? "" : "s") + " (" +
           std::to_string(printer.errors()) + " errors, " + std::to_string(printer.warnings()) +
           " warnings)");
  return printer.errors() > 0 || !sources_ok ? kExitFailed : kExitOk;
}

}  // namespace

void register_verify(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<VerifyOptions>();
  auto* cmd = app.add_subcommand(
      "verify", "Check every block of the given sources; one line per problem on stdout");
  cmd->add_option("SOURCE", opt->sources,
                  "Block, Prometheus data dir, Thanos bucket dir, or bucket:[PATH]")
      ->required();
  cmd->add_flag("--deep", opt->deep,
                "Also decode every chunk: samples in time order, first/last sample at the "
                "chunk's min/max time, sample counts from the data");
  cmd->add_flag("--json", opt->json,
                "One JSON object per problem: block, path, file, series, problem, severity");
  cmd->add_flag("--no-overlaps", opt->no_overlaps,
                "Blocks of one group (same external labels) whose time ranges overlap are "
                "errors, not warnings");
  cmd->footer(
      "Checks: meta.json (parses, ULID = directory name, minTime < maxTime, stats equal the\n"
      "block's series, chunks and samples); index (magic, version, TOC and section CRCs,\n"
      "symbols sorted and unique, series sorted with sorted unique labels, chunk metas\n"
      "sorted, not overlapping and inside the block range, postings sorted and pointing at\n"
      "series, postings offset table sorted); chunks (segment headers, refs in range, CRC of\n"
      "every chunk); tombstones. Without --deep no chunk is decoded (counts come from chunk\n"
      "headers). Problems: BLOCKDIR/FILE: [warning: ][series {...}: ]what; summary on stderr.\n"
      "Exit status: 0 no errors (warnings allowed), 1 errors found, 2 bad usage.");
  cmd->callback([opt, &run] { run = [opt] { return run_verify(*opt); }; });
}

}  // namespace promblock::tools
