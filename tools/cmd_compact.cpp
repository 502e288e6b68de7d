// promblock compact: plans and runs leveled compaction of all sources into
// an output directory (or of one source in place).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/external_labels.h"
#include "tools/log.h"
#include "tsdb/base/parallel_for.h"
#include "tsdb/base/usage_error.h"
#include "tsdb/compact/compactor.h"
#include "tsdb/compact/group_lock.h"
#include "tsdb/compact/sharding.h"
#include "tsdb/model/timeparse.h"
#include "tsdb/remote/bucket_lock.h"
#include "tsdb/remote/mirror.h"

namespace promblock::tools {

namespace {

struct CompactArgs {
  std::vector<std::string> sources;
  std::string out;
  std::vector<std::string> replica_labels;
  std::vector<std::string> external_labels;
  std::string dedup = "penalty";
  std::string ranges = "2h,8h,2d,14d";
  std::string consistency_delay = "30m";
  std::string delete_delay = "48h";
  std::string retention;
  int concurrency = 1;
  size_t threads = 0;
  bool legacy_chunk_encodings = false;
  bool dry_run = false;
  bool json = false;
  std::string shard;
  uint64_t split_shards = 1;
  std::string lock_expiry = "5m";
};

std::vector<int64_t> parse_ranges(const std::string& text) {
  std::vector<int64_t> ranges;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int64_t r = parse_duration_ms(part);
    if (r <= 0) throw UsageError("--ranges: durations must be positive: " + text);
    if (!ranges.empty() && r <= ranges.back())
      throw UsageError("--ranges must be ascending: " + text);
    ranges.push_back(r);
  }
  if (ranges.empty()) throw UsageError("--ranges: no range given");
  return ranges;
}

void print_line(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout), std::fflush(stdout);
}

void print_job(const compact::JobReport& r, bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["job"] = r.number;
    j["group"] = r.group;
    j["inputs"] = r.inputs;
    j["min_time"] = r.min_time;
    j["max_time"] = r.max_time;
    j["reason"] = r.reason;
    if (!r.output.empty()) j["output"] = r.output;
    if (!r.error.empty()) j["error"] = r.error;
    print_line(j.dump() + "\n");
    return;
  }
  std::string line = "job " + std::to_string(r.number) + ": " + r.reason + " [" +
                     format_rfc3339_ms(r.min_time) + ", " + format_rfc3339_ms(r.max_time) + ")";
  line += " inputs";
  for (const auto& in : r.inputs) line += " " + in;
  if (!r.output.empty()) line += " -> " + r.output;
  if (!r.error.empty()) line += " FAILED: " + r.error;
  print_line(line + "\n");
}

compact::CompactOptions compact_options(const CompactArgs& a) {
  compact::CompactOptions o;
  if (a.out.empty()) {
    if (a.sources.size() != 1)
      throw UsageError("without --out, compact takes exactly one SOURCE (compacted in place)");
    o.out_dir = a.sources[0];
  } else {
    o.out_dir = a.out;
    o.sources = a.sources;
  }
  o.replica_labels = a.replica_labels;
  o.assumed_labels = parse_external_labels(a.external_labels, a.sources);
  o.mode = merge::dedup_mode_from_name(a.dedup);
  o.ranges = parse_ranges(a.ranges);
  o.consistency_delay_ms = parse_duration_ms(a.consistency_delay);
  o.delete_delay_ms = parse_duration_ms(a.delete_delay);
  if (!a.retention.empty()) o.retention_ms = parse_duration_ms(a.retention);
  if (a.concurrency < 1) throw UsageError("--concurrency must be at least 1");
  o.concurrency = a.concurrency;
  o.threads = a.threads;
  if (a.legacy_chunk_encodings) o.encodings = merge::OutputEncodings::kLegacy;
  o.dry_run = a.dry_run;
  if (!a.shard.empty()) {
    o.shard = compact::parse_shard_spec(a.shard);
    if (!o.shard) throw UsageError("--shard wants I/N with 0 <= I < N, got \"" + a.shard + "\"");
  }
  o.split_shards = a.split_shards;
  o.lock_expiry_ms = parse_duration_ms(a.lock_expiry);
  if (o.lock_expiry_ms <= 0) throw UsageError("--lock-expiry must be positive");
  return o;
}

void print_summary(const compact::CompactSummary& s, bool dry_run, bool json, double seconds) {
  if (json) {
    nlohmann::ordered_json j;
    j["jobs_planned"] = s.jobs_planned;
    j["jobs_done"] = s.jobs_done;
    j["jobs_failed"] = s.jobs_failed;
    j["blocks_written"] = s.blocks_written;
    j["blocks_marked"] = s.blocks_marked;
    j["blocks_deleted"] = s.blocks_deleted;
    j["groups_locked"] = s.groups_locked;
    j["seconds"] = seconds;
    if (dry_run) j["dry_run"] = true;
    print_line(j.dump() + "\n");
    return;
  }
  if (s.jobs_planned == 0 && s.blocks_marked == 0 && s.blocks_deleted == 0 &&
      s.groups_locked == 0) {
    print_line("nothing to do\n");
    return;
  }
  std::string locked =
      s.groups_locked ? "; groups left to other processes " + std::to_string(s.groups_locked) : "";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s%llu jobs planned, %llu done, %llu failed; blocks written %llu, marked %llu, "
                "deleted %llu%s; %.2fs\n",
                dry_run ? "dry run: " : "", (unsigned long long)s.jobs_planned,
                (unsigned long long)s.jobs_done, (unsigned long long)s.jobs_failed,
                (unsigned long long)s.blocks_written, (unsigned long long)s.blocks_marked,
                (unsigned long long)s.blocks_deleted, locked.c_str(), seconds);
  print_line(buf);
}

// Bucket arguments: each bucket place is mirrored locally as stubs
// (remote/mirror.h); the compactor works on the mirrors, jobs fetch their
// inputs' data, and the output mirror is synced back to its bucket.
struct BucketPlaces {
  BucketSession session;
  std::vector<std::unique_ptr<remote::BucketMirror>> mirrors;
  remote::BucketMirror* out = nullptr;

  // Group locks held in the output bucket, kept until sync() has written
  // what the run did (a taker must find our blocks and marks there).
  std::vector<std::shared_ptr<compact::RemoteGroupLock>> group_locks;
  bool atomic_create = true;

  struct BucketGroupLock : compact::RemoteGroupLock {
    std::unique_ptr<remote::BucketLock> lock;  // null: the store cannot create atomically
    void check() const override {
      if (lock) lock->check();
    }
  };

  // Each group is locked by an object in the output bucket, so that runs
  // elsewhere (other shards, of any count, and overlapping cron runs) leave
  // it alone while this run works on it.
  void lock_groups_in(const std::string& arg, compact::CompactOptions& o) {
    std::string lock_dir = bucket_root(arg) + compact::kLockDirName + "/";
    auto expiry = std::chrono::milliseconds(o.lock_expiry_ms);
    o.lock_remote_group = [this, lock_dir, expiry](uint64_t hash, const std::string&,
                                                   std::string& held_by) {
      auto held = std::make_shared<BucketGroupLock>();
      if (!atomic_create) return std::shared_ptr<compact::RemoteGroupLock>(held);
      auto a =
          remote::BucketLock::acquire(session.bucket(), lock_dir + compact::group_lock_name(hash),
                                      expiry, compact::system_now_ms);
      switch (a.outcome) {
        case remote::BucketLock::Outcome::kHeldByOther:
          held_by = a.held_by;
          return std::shared_ptr<compact::RemoteGroupLock>();
        case remote::BucketLock::Outcome::kNotSupported:
          atomic_create = false;
          log_info(session.bucket().describe() +
                   ": the server cannot create objects atomically (it ignores If-None-Match), so "
                   "no lock keeps runs apart: run one compactor per group (--shard I/N), as "
                   "Thanos requires");
          break;
        case remote::BucketLock::Outcome::kHeld:
          held->lock = std::move(a.lock);
          break;
      }
      group_locks.push_back(held);
      return std::shared_ptr<compact::RemoteGroupLock>(held);
    };
  }

  std::string mirror(const std::string& arg, const char* what) {
    mirrors.push_back(std::make_unique<remote::BucketMirror>(session.bucket(), bucket_root(arg),
                                                             session.scratch_subdir(what)));
    return mirrors.back()->local_dir();
  }

  void attach(compact::CompactOptions& o) {
    if (is_bucket_arg(o.out_dir)) {
      if (!o.dry_run) lock_groups_in(o.out_dir, o);
      o.out_dir = mirror(o.out_dir, "out");
      out = mirrors.back().get();
      o.after_locking = [this] { out->refresh(); };
      o.thanos_section = true;  // bucket blocks always carry one
      if (!o.dry_run) o.publish = [this](const std::string& dir) { out->publish(dir); };
    }
    for (auto& s : o.sources)
      if (is_bucket_arg(s)) s = mirror(s, "source");
    if (mirrors.empty()) return;
    // A job's input blocks download side by side (each one's files too).
    o.fetch_inputs = [this](const std::vector<std::string>& dirs) {
      parallel_for(dirs.size(), kParallelBlockFetches, [&](size_t i) {
        for (auto& m : mirrors) m->fetch(dirs[i]);
      });
    };
  }

  // After the run: the output bucket follows the output mirror, and old
  // partial uploads go (by one process of a sharded set).
  void sync(const compact::CompactOptions& o) {
    if (!out || o.dry_run) return;
    auto r = out->sync_back();
    uint64_t partials = 0;
    if (!o.shard || o.shard->index == 0)
      partials = out->remove_old_partials(compact::system_now_ms(), kPartialUploadMaxAgeMs);
    log_info(session.bucket().describe() + ": uploaded " + std::to_string(r.uploaded) +
             " blocks, wrote " + std::to_string(r.marked) + " marks, deleted " +
             std::to_string(r.deleted) + " blocks and " + std::to_string(partials) +
             " partial uploads");
  }

  // A block prefix without meta.json this old is an upload that was cut
  // short, not one in progress (Thanos waits as long).
  static constexpr int64_t kPartialUploadMaxAgeMs = 48 * 3600 * 1000;
  static constexpr size_t kParallelBlockFetches = 4;
};

int run_compact(const CompactArgs& a) {
  auto start = std::chrono::steady_clock::now();
  compact::CompactOptions o = compact_options(a);
  record_compact_shard(o);
  BucketPlaces buckets;
  buckets.attach(o);
  Progress progress("compaction jobs", 0);
  o.progress = [&](uint64_t done, uint64_t total, uint64_t bytes) {
    progress.set_total(total);
    progress.update(done, bytes);
  };
  o.notice = [&](const std::string& msg) {
    progress.clear();
    log_info(msg);
  };
  auto s = compact::run_compaction(o, [&](const compact::JobReport& r) {
    progress.clear();  // job lines go to stdout, often the same terminal
    if (!r.error.empty())
      std::cerr << "promblock: job " << r.number << " failed: " << r.error << "\n";
    print_job(r, a.json);
    record_compact_job(r, o.out_dir);
  });
  record_compact(s);
  progress.finish();
  buckets.sync(o);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_summary(s, a.dry_run, a.json, seconds);
  if (s.jobs_failed) return kExitFailed;
  // Work left undone because others hold it: try again later, as cron does.
  return s.groups_locked ? kExitLocked : kExitOk;
}

}  // namespace

void register_compact(CLI::App& app, Runner& run) {
  auto a = std::make_shared<CompactArgs>();
  auto* cmd = app.add_subcommand(
      "compact", "Plan and run leveled compaction of the sources into --out (or in place)");
  cmd->add_option("SOURCE", a->sources,
                  "Prometheus data dirs, Thanos bucket dirs, block dirs, bucket:[PATH]")
      ->required();
  cmd->add_option("--out", a->out,
                  "Output directory (shared storage) or bucket:[PATH]; without it, compact one "
                  "SOURCE in place");
  cmd->add_option("--external-label", a->external_labels,
                  "[SOURCE:]NAME=VALUE: an external label for blocks that have none (plain "
                  "Prometheus), for every source or only SOURCE; repeatable");
  cmd->add_option("--replica-label", a->replica_labels,
                  "Label naming the replica (series or external label); repeatable");
  cmd->add_option("--dedup", a->dedup, "penalty (default), chain or none, for overlapping blocks")
      ->check(CLI::IsMember({"penalty", "chain", "none"}));
  cmd->add_option("--ranges", a->ranges, "Compaction ranges, ascending (default 2h,8h,2d,14d)");
  cmd->add_option("--consistency-delay", a->consistency_delay,
                  "Leave source blocks younger than this (by ULID time) for later (default 30m)");
  cmd->add_option("--delete-delay", a->delete_delay,
                  "Delete replaced blocks in --out this long after marking them (default 48h)");
  cmd->add_option("--retention", a->retention,
                  "Mark blocks in --out that ended longer ago than this for deletion");
  cmd->add_option("--concurrency", a->concurrency, "Jobs run at once (default 1)");
  cmd->add_option("--threads", a->threads,
                  "Threads each job merges series with (default: the cores shared among "
                  "concurrent jobs)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--legacy-chunk-encodings", a->legacy_chunk_encodings,
                "Write only chunk encodings 1-3 (XOR, histogram, float histogram), re-encoding "
                "Prometheus 3.x's 4-6, for readers that know nothing newer (Thanos up to v0.42); "
                "start timestamps are dropped");
  cmd->add_option("--shard", a->shard,
                  "I/N: take only the groups whose hash mod N is I (N processes, 0..N-1, "
                  "share the work)");
  cmd->add_option("--split-shards", a->split_shards,
                  "Write K blocks per range, block k holding the series whose hash mod K is k "
                  "(default 1: no split)")
      ->check(CLI::Range(uint64_t(1), uint64_t(65536)));
  cmd->add_option("--lock-expiry", a->lock_expiry,
                  "Take over a group lock whose holder has not refreshed it this long "
                  "(default 5m)");
  cmd->add_flag("--dry-run", a->dry_run, "Print the plan; change nothing");
  cmd->add_flag("--json", a->json, "One JSON object per line: jobs, then the summary");
  cmd->callback([a, &run] { run = [a] { return run_compact(*a); }; });
}

}  // namespace promblock::tools
