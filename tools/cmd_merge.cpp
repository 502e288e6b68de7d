// promblock merge: exactly the given blocks (or all blocks of the given
// sources) into one new block, replicas deduplicated.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/external_labels.h"
#include "tools/log.h"
#include "tsdb/base/dir_lock.h"
#include "tsdb/block/discover.h"
#include "tsdb/block/leftovers.h"
#include "tsdb/merge/block_merger.h"
#include "tsdb/remote/block_transfer.h"

namespace promblock::tools {

namespace {

struct MergeArgs {
  std::string out;
  std::vector<std::string> replica_labels;
  std::vector<std::string> external_labels;
  std::string dedup = "penalty";
  bool json = false;
  size_t threads = 0;
  bool legacy_chunk_encodings = false;
  std::vector<std::string> inputs;
};

int run_merge(const MergeArgs& args) {
  auto start = std::chrono::steady_clock::now();
  BucketSession session;
  auto local_inputs = session.localize(args.inputs);
  auto assumed = parse_external_labels(args.external_labels, args.inputs);
  std::vector<merge::MergeInput> inputs;
  for (size_t i = 0; i < local_inputs.size(); ++i)
    for (auto& b : discover_blocks(local_inputs[i])) {
      if (assumed.count(uint32_t(i))) assume_external_labels(b.meta, assumed[uint32_t(i)]);
      inputs.push_back({std::move(b), uint32_t(i)});
    }
  if (inputs.empty()) {
    log_info("no blocks in the given inputs; nothing to do");
    return kExitOk;
  }
  // Refuse before touching --out (not even its lock file).
  merge::check_one_group(inputs, args.replica_labels);
  bool to_bucket = is_bucket_arg(args.out);
  // A bucket-bound block is written locally first, then uploaded.
  std::string out_dir = to_bucket ? session.scratch_subdir("out") : args.out;
  DirLock lock(out_dir);
  remove_leftover_tmp_dirs(out_dir);
  merge::MergeOptions opts;
  opts.out_dir = out_dir;
  opts.thanos_section = to_bucket;
  opts.replica_labels = args.replica_labels;
  opts.mode = merge::dedup_mode_from_name(args.dedup);
  opts.threads = args.threads;
  if (args.legacy_chunk_encodings) opts.encodings = merge::OutputEncodings::kLegacy;
  Progress progress("merging series", 0);
  opts.progress = [&](uint64_t done, uint64_t total, uint64_t bytes) {
    progress.set_total(total);
    progress.update(done, bytes);
  };
  auto r = merge::merge_blocks(inputs, opts);
  progress.finish();
  record_merge(r, r.path);
  if (to_bucket) {
    std::string root = bucket_root(args.out);
    remote::upload_block(session.bucket(), r.path, root);
    r.path = session.bucket().describe_object(root + r.ulid);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string line;
  if (args.json) {
    nlohmann::ordered_json j;
    j["ulid"] = r.ulid;
    j["path"] = r.path;
    j["dedup"] = args.dedup;
    j["inputs"] = r.inputs;
    j["series_in"] = r.series_in;
    j["series_out"] = r.series_out;
    j["samples_in"] = r.samples_in;
    j["samples_out"] = r.samples_out;
    j["chunks_in"] = r.chunks_in;
    j["chunks_out"] = r.chunks_out;
    j["chunks_copied"] = r.chunks_copied;
    j["chunks_reencoded"] = r.chunks_reencoded;
    j["seconds"] = seconds;
    line = j.dump() + "\n";
  } else {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "merged %zu blocks into %s (dedup %s): series %llu -> %llu, samples %llu -> "
                  "%llu, chunks %llu -> %llu (%llu copied, %llu re-encoded), %.2fs\n",
                  r.inputs.size(), r.path.c_str(), args.dedup.c_str(),
                  (unsigned long long)r.series_in, (unsigned long long)r.series_out,
                  (unsigned long long)r.samples_in, (unsigned long long)r.samples_out,
                  (unsigned long long)r.chunks_in, (unsigned long long)r.chunks_out,
                  (unsigned long long)r.chunks_copied, (unsigned long long)r.chunks_reencoded,
                  seconds);
    line = buf;
  }
  std::fwrite(line.data(), 1, line.size(), stdout);
  return kExitOk;
}

}  // namespace

void register_merge(CLI::App& app, Runner& run) {
  auto args = std::make_shared<MergeArgs>();
  auto* cmd = app.add_subcommand(
      "merge", "Merge the given blocks into one new block, deduplicating HA replicas");
  cmd->add_option("INPUT", args->inputs, "Block dir, or a source dir whose blocks are all taken")
      ->required();
  cmd->add_option("--out", args->out,
                  "Output directory (shared storage; created if missing), or bucket:[PATH]")
      ->required();
  cmd->add_option("--external-label", args->external_labels,
                  "[SOURCE:]NAME=VALUE: an external label for blocks that have none (plain "
                  "Prometheus), for every source or only SOURCE; repeatable");
  cmd->add_option("--replica-label", args->replica_labels,
                  "Label naming the replica (series or external label); repeatable");
  cmd->add_option("--dedup", args->dedup,
                  "penalty (Thanos HA dedup, default), chain (Prometheus vertical merge), none")
      ->check(CLI::IsMember({"penalty", "chain", "none"}));
  cmd->add_option("--threads", args->threads,
                  "Threads that merge series (output order is kept); default: one per core")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--legacy-chunk-encodings", args->legacy_chunk_encodings,
                "Write only chunk encodings 1-3 (XOR, histogram, float histogram), re-encoding "
                "Prometheus 3.x's 4-6, for readers that know nothing newer (Thanos up to v0.42); "
                "start timestamps are dropped");
  cmd->add_flag("--json", args->json, "Print the summary as one JSON line");
  cmd->callback([args, &run] { run = [args] { return run_merge(*args); }; });
}

}  // namespace promblock::tools
