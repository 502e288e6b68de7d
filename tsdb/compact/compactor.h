#pragma once
// `promblock compact`: catalog the sources and the output directory, plan,
// run the jobs through the merge engine, mark and delete what they
// replaced. Safe to run from cron: one run at a time per output directory,
// and a run killed at any instant leaves only complete blocks; the next
// run finishes the work.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsdb/compact/clock.h"
#include "tsdb/compact/planner.h"
#include "tsdb/merge/block_merger.h"

namespace promblock::compact {

// A group lock held in the shared storage the output directory stands in
// for (CompactOptions::lock_remote_group).
class RemoteGroupLock {
 public:
  virtual ~RemoteGroupLock() = default;
  // Throws when the lock is no longer this run's: called before a job
  // publishes its block.
  virtual void check() const = 0;
};

struct CompactOptions {
  std::vector<std::string> sources;  // empty: compact out_dir in place
  std::string out_dir;
  std::vector<std::string> replica_labels;
  merge::DedupMode mode = merge::DedupMode::kPenalty;
  merge::OutputEncodings encodings = merge::OutputEncodings::kKeep;
  std::vector<int64_t> ranges;  // ms, ascending
  int64_t consistency_delay_ms = 30 * 60 * 1000;
  int64_t delete_delay_ms = 48 * 3600 * 1000;
  std::optional<int64_t> retention_ms;
  int concurrency = 1;
  size_t threads = 0;  // per job's merge; 0: the cores shared among concurrent jobs
  bool dry_run = false;
  // Shard I of N: only the output groups whose hash mod N is I. Sharded
  // processes share the directory lock (and lock groups among themselves).
  std::optional<merge::SeriesShard> shard;
  // K (> 1): each job of an unsplit group becomes K jobs,
  // job k writing the series whose hash mod K is k.
  uint64_t split_shards = 1;
  // A group lock whose holder has not refreshed it this long is taken over.
  int64_t lock_expiry_ms = 5 * 60 * 1000;
  // Hears notices (a group left for later) as one-line sentences; the
  // library prints nothing itself.
  std::function<void(const std::string&)> notice;
  // Called on the calling thread as work advances: jobs finished of all,
  // and chunk bytes written by the jobs so far.
  std::function<void(uint64_t jobs_done, uint64_t jobs_total, uint64_t bytes)> progress;
  // Unix ms for block ages, delays and lock heartbeats; unset: the system
  // clock.
  Clock clock;
  // Called on a job's thread before it reads its input blocks, with their
  // directories: where the blocks' data lives elsewhere (a bucket whose
  // blocks are mirrored as meta.json alone), it brings the data in.
  std::function<void(const std::vector<std::string>& block_dirs)> fetch_inputs;
  // Called on a job's thread with each output block's directory once it is
  // complete, before the job's inputs are marked: where the output belongs
  // elsewhere (a bucket), it goes there now, so a run that dies later
  // loses nothing it finished. Throwing fails the job.
  std::function<void(const std::string& block_dir)> publish;
  // Where out_dir stands in for shared storage elsewhere (a bucket's local
  // mirror), each group is locked there as well: returns the held lock, or
  // nullptr with `held_by` naming the live holder (the group is then left
  // for later, as a group locked in out_dir is). The caller may keep the
  // lock past the run, until what the run did is synced.
  std::function<std::shared_ptr<RemoteGroupLock>(uint64_t group_hash, const std::string& group,
                                                 std::string& held_by)>
      lock_remote_group;
  // Called once the run holds its groups, before it reads out_dir again:
  // a mirror brings in what other runs did meanwhile.
  std::function<void()> after_locking;
  // Every output gets a Thanos section (merge::MergeOptions::thanos_section).
  bool thanos_section = false;
  // External labels assumed for blocks that have none (plain Prometheus),
  // per source (index as in `sources`; out_dir is index sources.size()),
  // as a sidecar would have set them: they group, shard and label outputs.
  std::map<uint32_t, std::map<std::string, std::string>> assumed_labels;
};

// One job as reported to the caller, planned or finished.
struct JobReport {
  size_t number = 0;  // 1-based
  std::map<std::string, std::string> group;
  std::vector<std::string> inputs;  // ULIDs, or "job:N"
  int64_t min_time = 0, max_time = 0;
  std::string reason;
  std::string output;         // ULID, once done
  std::string error;          // set when the job failed
  merge::MergeResult merged;  // a done job's counts: series, samples, chunks in and out
};

struct CompactSummary {
  uint64_t jobs_planned = 0, jobs_done = 0, jobs_failed = 0;
  uint64_t blocks_written = 0, blocks_marked = 0, blocks_deleted = 0;
  uint64_t groups_locked = 0;  // left alone: another live process holds them
};

// Runs (or with dry_run only plans) the compaction; `on_job` is called for
// each job as planned (dry run) or as finished (failed ones with `error`).
CompactSummary run_compaction(const CompactOptions& opts,
                              const std::function<void(const JobReport&)>& on_job);

}  // namespace promblock::compact
