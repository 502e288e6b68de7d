// promblock rewrite: a copy of one block without the series matched by
// --delete selectors and without the --drop-label labels.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/log.h"
#include "tsdb/base/dir_lock.h"
#include "tsdb/base/usage_error.h"
#include "tsdb/block/discover.h"
#include "tsdb/block/leftovers.h"
#include "tsdb/model/selector.h"
#include "tsdb/rewrite/rewrite.h"

namespace promblock::tools {

namespace {

struct RewriteArgs {
  std::string out;
  std::vector<std::string> deletes;
  std::vector<std::string> drop_labels;
  bool json = false;
  std::string block;
};

// Whether `inner` is `outer` or lies below it (both need not exist yet).
bool is_within(const std::string& inner, const std::string& outer) {
  namespace fs = std::filesystem;
  auto norm = [](const std::string& p) {
    std::string s = fs::weakly_canonical(fs::absolute(p)).lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  std::string a = norm(inner), b = norm(outer);
  return a == b || a.starts_with(b + "/");
}

// The library reports a series left without labels as a fact; the message
// names the flag that caused it.
rewrite::RewriteResult rewrite_or_explain(const std::string& dir,
                                          const rewrite::RewriteOptions& opts) {
  try {
    return rewrite::rewrite_block(dir, opts);
  } catch (const rewrite::NoLabelsLeft& e) {
    fail(e.file(), "series " + labels_to_string(e.series()) +
                       " would have no labels left after --drop-label");
  }
}

int run_rewrite(const RewriteArgs& args) {
  rewrite::RewriteOptions opts;
  opts.out_dir = args.out;
  opts.drop_labels = args.drop_labels;
  for (const auto& d : args.deletes) opts.deletions.push_back({d, parse_selector(d)});
  for (const auto& l : args.drop_labels)
    if (l.empty()) throw UsageError("--drop-label: the label name is empty");

  auto found = discover_blocks(args.block);
  if (found.size() != 1)
    throw UsageError("rewrite takes exactly one block; " + args.block + " holds " +
                     std::to_string(found.size()));
  const auto& input = found[0];
  if (is_within(args.out, input.dir))
    throw UsageError("--out " + args.out + " lies inside the input block " + input.dir);

  DirLock lock(args.out);
  remove_leftover_tmp_dirs(args.out);
  auto r = rewrite_or_explain(input.dir, opts);
  record_rewrite(r, r.path);

  std::string line;
  if (args.json) {
    nlohmann::ordered_json j;
    j["written"] = r.written;
    j["ulid"] = r.written ? nlohmann::ordered_json(r.ulid) : nlohmann::ordered_json();
    j["path"] = r.written ? nlohmann::ordered_json(r.path) : nlohmann::ordered_json();
    j["input"] = r.input;
    j["series_in"] = r.series_in;
    j["series_out"] = r.series_out;
    j["series_deleted"] = r.series_deleted;
    j["series_merged"] = r.series_merged;
    j["samples_in"] = r.samples_in;
    j["samples_out"] = r.samples_out;
    j["chunks_in"] = r.chunks_in;
    j["chunks_out"] = r.chunks_out;
    j["chunks_copied"] = r.chunks_copied;
    j["chunks_reencoded"] = r.chunks_reencoded;
    line = j.dump() + "\n";
  } else {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "series %llu -> %llu (%llu deleted, %llu merged), samples %llu -> %llu, "
                  "chunks %llu -> %llu (%llu copied, %llu re-encoded)\n",
                  (unsigned long long)r.series_in, (unsigned long long)r.series_out,
                  (unsigned long long)r.series_deleted, (unsigned long long)r.series_merged,
                  (unsigned long long)r.samples_in, (unsigned long long)r.samples_out,
                  (unsigned long long)r.chunks_in, (unsigned long long)r.chunks_out,
                  (unsigned long long)r.chunks_copied, (unsigned long long)r.chunks_reencoded);
    line = r.written ? "rewrote " + r.input + " into " + r.path + ": " + buf
                     : "rewrote " + r.input + ": nothing left, no block written: " + buf;
  }
  if (!r.written)
    log_info("every series of " + r.input + " was deleted; no block written to " + args.out);
  std::fwrite(line.data(), 1, line.size(), stdout);
  return kExitOk;
}

}  // namespace

void register_rewrite(CLI::App& app, Runner& run) {
  auto args = std::make_shared<RewriteArgs>();
  auto* cmd = app.add_subcommand(
      "rewrite", "Write a copy of a block without the matched series or the dropped labels");
  cmd->add_option("BLOCK", args->block, "The block to rewrite (never modified)")->required();
  cmd->add_option("--out", args->out, "Output directory; created if missing")->required();
  cmd->add_option("--delete", args->deletes,
                  "Series selector, e.g. '{job=\"x\"}': leave out matching series; repeatable");
  cmd->add_option("--drop-label", args->drop_labels,
                  "Remove this label from every series (equal series are chain-merged); "
                  "repeatable");
  cmd->add_flag("--json", args->json, "Print the summary as one JSON line");
  cmd->footer(
      "The new block gets a new ULID and the input's time range; untouched chunks are copied\n"
      "byte for byte, tombstones applied; meta.json keeps level and sources, parents = [BLOCK],\n"
      "and a Thanos section records the rewrite in `rewrites`. If every series is deleted, no\n"
      "block is written (exit 0). Exit status: 0 ok, 1 failed, 2 bad usage, 75 DIR locked.\n"
      "See man promblock-rewrite.");
  cmd->callback([args, &run] { run = [args] { return run_rewrite(*args); }; });
}

}  // namespace promblock::tools
