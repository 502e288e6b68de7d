#include "tsdb/compact/compactor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "tsdb/base/error.h"
#include "tsdb/base/ordered_parallel.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/compact/catalog.h"
#include "tsdb/compact/job_runner.h"
#include "tsdb/compact/marks.h"
#include "tsdb/compact/run_locks.h"

namespace promblock::compact {

namespace {

// One run: catalog, lock, plan, run the jobs, mark and delete what they
// replaced.
class Run {
 public:
  Run(const CompactOptions& opts, const std::function<void(const JobReport&)>& on_job)
      : opts_(opts),
        on_job_(on_job),
        clock_(opts.clock ? opts.clock : Clock(system_now_ms)),
        now_(clock_()),
        catalog_(opts, now_) {}

  CompactSummary go();

 private:
  void notice(const std::string& msg) const;
  // Locks the groups this process owns, then looks at the output again:
  // what another holder did there before letting go is seen.
  void lock_groups();

  void plan();
  void mark(const FoundBlock& b, const std::string& details);
  void mark_all(const std::vector<MarkRequest>& marks);
  void delete_expired();

  JobReport report(size_t i) const;
  // Jobs never mix groups: the group of any block it descends from.
  const OutGroup& group_of(size_t job) const;

  // Concurrent jobs share the cores unless told otherwise.
  size_t merge_threads() const;

  merge::MergeOptions merge_options(size_t i, uint64_t& job_bytes);

  // Runs on a worker thread when jobs run at once: reads only shared state
  // that no job changes.
  FoundBlock run_job(size_t i);
  std::vector<merge::MergeInput> inputs_of(size_t i) const;
  // Starts opening job i's inputs on a thread of their own, for a job
  // that reads only blocks the catalogue found (no other job's output):
  // called as the job before it commits, whose fsyncs leave the cores
  // idle. Only where jobs run one at a time, from local directories.
  void open_ahead(size_t i);

  void report_progress();
  void finish_job(size_t i);

  const CompactOptions& opts_;
  const std::function<void(const JobReport&)>& on_job_;
  Clock clock_;
  int64_t now_;  // when the run started
  Catalog catalog_;
  std::unique_ptr<RunLocks> locks_;
  std::map<std::string, std::shared_ptr<RemoteGroupLock>> remote_locks_;  // by group text
  std::vector<Job> jobs_;
  std::vector<merge::MergeResult> merged_;  // by job; each written by its job's thread only
  const JobRunner* runner_ = nullptr;
  struct OpenedAhead {
    size_t job;
    std::future<merge::OpenedInputs> blocks;  // what opening threw, if it failed
  };
  std::optional<OpenedAhead> opened_ahead_;
  uint64_t jobs_finished_ = 0;
  std::atomic<uint64_t> bytes_written_{0};
  CompactSummary summary_;
};

CompactSummary Run::go() {
  if (opts_.dry_run) {
    catalog_.load();
    plan();
    for (size_t i = 0; i < jobs_.size(); ++i) on_job_(report(i));
    return summary_;
  }
  locks_ = std::make_unique<RunLocks>(opts_.out_dir, opts_.shard.has_value(),
                                      std::chrono::milliseconds(opts_.lock_expiry_ms), clock_);
  delete_expired();
  lock_groups();
  plan();
  JobRunner runner(jobs_, opts_.concurrency);
  runner_ = &runner;
  runner.run([this](size_t i) { return run_job(i); }, [this](size_t i) { finish_job(i); });
  mark_all(catalog_.redundant_out_blocks());
  delete_expired();
  return summary_;
}

void Run::notice(const std::string& msg) const {
  if (opts_.notice) opts_.notice(msg);
}

void Run::lock_groups() {
  catalog_.load();
  mark_all(catalog_.marks());
  std::map<std::string, uint64_t> wanted;
  for (const auto& [text, g] : catalog_.groups()) wanted[text] = g.hash;
  auto held = locks_->lock_groups(wanted, [this](const std::string& text, const LockHolder& h) {
    ++summary_.groups_locked;
    notice("group " + text + " is locked by " + h.describe() + "; left for later");
  });
  if (opts_.lock_remote_group) {
    for (auto it = held.begin(); it != held.end();) {
      std::string held_by;
      if (auto lock = opts_.lock_remote_group(wanted.at(*it), *it, held_by)) {
        remote_locks_[*it] = std::move(lock);
        ++it;
        continue;
      }
      ++summary_.groups_locked;
      notice("group " + *it + " is locked by " + held_by + "; left for later");
      it = held.erase(it);
    }
  }
  locks_->remove_dead_tmp_dirs();
  if (opts_.after_locking) opts_.after_locking();
  catalog_.reload_out_dir();
  mark_all(catalog_.marks());
  catalog_.keep_groups(held);
}

void Run::plan() {
  jobs_ = plan_compaction(catalog_.plan_blocks(), opts_.ranges);
  merged_.assign(jobs_.size(), {});
  summary_.jobs_planned = jobs_.size();
}

void Run::mark(const FoundBlock& b, const std::string& details) {
  write_deletion_mark(b.dir, b.meta.ulid, details, now_ / 1000);
  ++summary_.blocks_marked;
}

void Run::mark_all(const std::vector<MarkRequest>& marks) {
  for (const auto& m : marks) mark(m.block, m.details);
}

void Run::delete_expired() {
  int64_t now = clock_();
  for (const auto& b : catalog_.out_blocks()) {
    if (!b.deletion_marked || !catalog_.owns(b.meta)) continue;
    auto t = deletion_time(b.dir, now / 1000);
    if (!t || (*t) * 1000 + opts_.delete_delay_ms > now) continue;
    try {
      delete_block(b.dir);
    } catch (const Error&) {
      // An overlapping run of this shard (another host) got there first.
      std::error_code ec;
      if (std::filesystem::exists(b.dir, ec)) throw;
      continue;
    }
    ++summary_.blocks_deleted;
  }
}

JobReport Run::report(size_t i) const {
  const Job& job = jobs_[i];
  JobReport r;
  r.number = i + 1;
  r.min_time = job.min_time;
  r.max_time = job.max_time;
  r.reason = job.reason;
  r.group = group_of(i).labels;
  if (group_of(i).split) r.reason = "split " + r.reason;
  for (const auto& in : job.inputs)
    r.inputs.push_back(in.is_job ? "job:" + std::to_string(in.index + 1)
                                 : catalog_.plan_entry(in.index).block.meta.ulid);
  return r;
}

const OutGroup& Run::group_of(size_t job) const {
  const JobInput& first = jobs_[job].inputs.front();
  return first.is_job ? group_of(first.index) : catalog_.plan_group(first.index);
}

size_t Run::merge_threads() const {
  if (opts_.threads > 0) return opts_.threads;
  return std::max<size_t>(1, default_thread_count() / size_t(std::max(1, opts_.concurrency)));
}

merge::MergeOptions Run::merge_options(size_t i, uint64_t& job_bytes) {
  merge::MergeOptions mo;
  mo.out_dir = opts_.out_dir;
  mo.replica_labels = opts_.replica_labels;
  // A leveled job's inputs are clusters of their own (or of a vertical job
  // taken in), so the mode only dedups within those.
  mo.mode = opts_.mode;
  mo.encodings = opts_.encodings;
  mo.threads = merge_threads();
  // Merges report bytes on their own thread: sum them; only a job on
  // the calling thread (one at a time) passes them on as it goes.
  mo.progress = [this, &job_bytes](uint64_t, uint64_t, uint64_t bytes) {
    bytes_written_ += bytes - job_bytes;
    job_bytes = bytes;
    if (opts_.concurrency <= 1) report_progress();
  };
  mo.shard = group_of(i).split;
  mo.thanos_section = opts_.thanos_section;
  mo.ulid = new_ulid();
  return mo;
}

std::vector<merge::MergeInput> Run::inputs_of(size_t i) const {
  std::vector<merge::MergeInput> inputs;
  // The output may share chunk segments (hard links) with the inputs it
  // replaces, blocks of this output directory that are marked for deletion
  // once it is written: a level of compaction then does not copy them.
  for (const auto& in : jobs_[i].inputs) {
    if (in.is_job)
      inputs.push_back(
          {*runner_->output(in.index), uint32_t(opts_.sources.size()), in.cluster, true});
    else
      inputs.push_back({catalog_.plan_entry(in.index).block,
                        catalog_.plan_entry(in.index).source_index, in.cluster,
                        catalog_.replaced_by_job(in.index)});
  }
  return inputs;
}

void Run::open_ahead(size_t i) {
  if (i >= jobs_.size() || opts_.concurrency > 1 || opts_.fetch_inputs) return;
  const auto& job_inputs = jobs_[i].inputs;
  if (std::any_of(job_inputs.begin(), job_inputs.end(), [](const auto& in) { return in.is_job; }))
    return;
  opened_ahead_ = OpenedAhead{i, std::async(std::launch::async, [inputs = inputs_of(i)] {
                                return merge::open_input_blocks(inputs);
                              })};
}

FoundBlock Run::run_job(size_t i) {
  std::vector<merge::MergeInput> inputs = inputs_of(i);
  if (opts_.fetch_inputs) {
    std::vector<std::string> dirs;
    for (const auto& in : inputs) dirs.push_back(in.block.dir);
    opts_.fetch_inputs(dirs);
  }
  merge::OpenedInputs opened;
  if (opened_ahead_) {
    auto ahead = std::move(*opened_ahead_);
    opened_ahead_.reset();
    if (ahead.job == i) opened = ahead.blocks.get();  // throws what opening threw
  }
  uint64_t job_bytes = 0;
  merge::MergeOptions mo = merge_options(i, job_bytes);
  auto lock = locks_->lock_of(group_of(i).text);
  std::string tmp_name = mo.ulid + std::string(BlockWriter::kTmpSuffix);
  mo.before_commit = [this, lock, i] {
    lock->check();
    open_ahead(i + 1);
  };
  try {
    // Listed before it exists, so that no cleanup takes it for a leftover.
    lock->add_writing(tmp_name);
    auto result = merge::merge_blocks(inputs, mo, std::move(opened));
    lock->remove_writing(tmp_name);
    if (opts_.publish) {
      try {
        if (auto it = remote_locks_.find(group_of(i).text); it != remote_locks_.end())
          it->second->check();
        opts_.publish(result.path);
      } catch (const std::exception&) {
        // Not published, so not written: left here, a later sync or run
        // would take it for done. The publish error is the one to report.
        try {
          delete_block(result.path);
        } catch (const std::exception&) {
        }
        throw;
      }
    }
    merged_[i] = result;
    return discover_blocks(result.path).at(0);
  } catch (const std::exception&) {
    lock->remove_writing(tmp_name);
    throw;
  }
}

void Run::report_progress() {
  if (opts_.progress) opts_.progress(jobs_finished_, jobs_.size(), bytes_written_.load());
}

void Run::finish_job(size_t i) {
  ++jobs_finished_;
  report_progress();
  JobReport r = report(i);
  const auto& output = runner_->output(i);
  if (!output) {
    r.error = runner_->error(i);
    ++summary_.jobs_failed;
    on_job_(r);
    return;
  }
  r.output = output->meta.ulid;
  r.merged = merged_[i];
  ++summary_.jobs_done;
  ++summary_.blocks_written;
  // Inputs of this group in the output directory are replaced: mark
  // them. (Inputs being split are marked once every shard has them.)
  for (const auto& in : jobs_[i].inputs) {
    if (in.is_job)
      mark(*runner_->output(in.index), "compacted into " + r.output);
    else if (catalog_.replaced_by_job(in.index))
      mark(catalog_.plan_entry(in.index).block, "compacted into " + r.output);
  }
  on_job_(r);
}

}  // namespace

CompactSummary run_compaction(const CompactOptions& opts,
                              const std::function<void(const JobReport&)>& on_job) {
  return Run(opts, on_job).go();
}

}  // namespace promblock::compact
