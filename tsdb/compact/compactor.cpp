#include "tsdb/compact/compactor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"
#include "tsdb/base/ordered_parallel.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/block/discover.h"
#include "tsdb/block/leftovers.h"
#include "tsdb/compact/group_lock.h"
#include "tsdb/compact/marks.h"
#include "tsdb/compact/sharding.h"
#include "tsdb/merge/block_merger.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/model/labels.h"

namespace promblock::compact {

namespace {

using Group = std::map<std::string, std::string>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> sources_of(const BlockMeta& m) {
  return m.sources.empty() ? std::vector<std::string>{m.ulid} : m.sources;
}

bool is_subset(const std::vector<std::string>& a, const std::set<std::string>& b) {
  return std::all_of(a.begin(), a.end(), [&](const std::string& s) { return b.count(s) > 0; });
}

struct CatalogEntry {
  FoundBlock block;
  uint32_t source_index;
  Group group;  // its own: external labels without replica labels
  bool in_out;
};

// The blocks one job writes into: a group of the output directory.
struct OutGroup {
  Group labels;
  std::string text;
  uint64_t hash = 0;
  std::optional<merge::SeriesShard> split;  // set when made by splitting an unsplit group
  std::vector<size_t> members;              // catalog entries
  std::shared_ptr<GroupLock> lock;
};

class Run {
 public:
  Run(const CompactOptions& opts, const std::function<void(const JobReport&)>& on_job)
      : opts_(opts), on_job_(on_job), rules_(opts.replica_labels), now_(now_ms()) {}

  CompactSummary go() {
    if (!opts_.dry_run) {
      dir_lock_ = std::make_unique<DirLock>(
          opts_.out_dir, opts_.shard ? DirLock::Mode::kShared : DirLock::Mode::kExclusive);
      lock_set_ = std::make_unique<GroupLockSet>(opts_.out_dir,
                                                 std::chrono::milliseconds(opts_.lock_expiry_ms));
      delete_expired();
      // Lock the groups this process owns, then look again: what another
      // holder did before letting go is seen.
      build_catalog();
      build_groups();
      std::set<std::string> held;
      for (auto& [text, g] : groups_) {
        LockHolder holder;
        if (auto lock = lock_set_->try_acquire(g.hash, text, holder)) {
          locks_[text] = std::move(lock);
          held.insert(text);
        } else {
          ++summary_.groups_locked;
          notice("group " + text + " is locked by " + holder.describe() + "; left for later");
        }
      }
      catalog_.clear();
      groups_.clear();
      represented_.clear();
      remove_dead_tmp_dirs(*lock_set_);
      build_catalog();
      build_groups();
      std::erase_if(groups_, [&](const auto& kv) { return !held.count(kv.first); });
      for (auto& [text, g] : groups_) g.lock = locks_[text];
    } else {
      build_catalog();
      build_groups();
    }
    plan();
    summary_.jobs_planned = jobs_.size();
    if (opts_.dry_run) {
      for (size_t i = 0; i < jobs_.size(); ++i) on_job_(report(i));
      return summary_;
    }
    execute();
    // Inputs split into shards are replaced once every shard holds them.
    std::vector<FoundBlock> live;
    for (auto& b : out_blocks())
      if (!b.deletion_marked && !b.no_compact_marked) live.push_back(std::move(b));
    for (const auto& b : live)
      if (owns(b.meta) && redundant(b, live)) mark(b, "its sources are all in other blocks");
    delete_expired();
    return summary_;
  }

 private:
  uint32_t out_index() const { return uint32_t(opts_.sources.size()); }

  void notice(const std::string& msg) const {
    if (opts_.notice)
      opts_.notice(msg);
    else
      std::cerr << "promblock: " << msg << "\n";
  }

  bool owns_hash(uint64_t hash) const {
    return !opts_.shard || hash % opts_.shard->count == opts_.shard->index;
  }
  // Marks and deletions of a block are done by the process owning its own
  // group, so that concurrent shards never race on one block.
  bool owns(const BlockMeta& m) const { return owns_hash(group_hash(rules_.group_labels(m))); }

  std::vector<FoundBlock> out_blocks() const {
    std::error_code ec;
    if (!std::filesystem::exists(opts_.out_dir, ec)) return {};
    return discover_blocks(opts_.out_dir);
  }

  void mark(const FoundBlock& b, const std::string& details) {
    if (opts_.dry_run) return;
    write_deletion_mark(b.dir, b.meta.ulid, details, now_ / 1000);
    ++summary_.blocks_marked;
  }

  void delete_expired() {
    int64_t now_s = now_ms() / 1000;
    for (const auto& b : out_blocks()) {
      if (!b.deletion_marked || !owns(b.meta)) continue;
      auto t = deletion_time(b.dir, now_s);
      if (t && (*t) * 1000 + opts_.delete_delay_ms <= now_ms()) {
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
  }

  // Temporary dirs of dead writers: creation dirs no live group lock lists
  // (a writer lists its dir before creating it). Deletion dirs all go: a
  // deleter racing us wants them gone too.
  void remove_dead_tmp_dirs(GroupLockSet& locks) {
    locks.remove_dead_locks();
    std::vector<std::filesystem::path> creating, deleting;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(opts_.out_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.ends_with(BlockWriter::kTmpSuffix)) creating.push_back(it->path());
      if (name.ends_with(kTmpForDeletionSuffix)) deleting.push_back(it->path());
    }
    auto live = locks.live_writing();  // read after listing: see above
    for (const auto& p : creating)
      if (!live.count(p.filename().string())) std::filesystem::remove_all(p, ec);
    for (const auto& p : deleting) std::filesystem::remove_all(p, ec);
  }

  void build_catalog() {
    auto found = out_blocks();
    for (const auto& b : found) {
      if (b.deletion_marked) continue;
      auto sources = sources_of(b.meta);
      represented_[label_map_text(rules_.group_labels(b.meta))].insert(sources.begin(),
                                                                       sources.end());
    }
    std::vector<FoundBlock> live;
    for (const auto& b : found) {
      if (b.deletion_marked || b.no_compact_marked) continue;
      // In place, blocks not written by promblock may still be arriving.
      if (opts_.sources.empty() && !made_by_promblock(b) && too_young(b)) continue;
      if (opts_.retention_ms && b.meta.max_time < now_ - *opts_.retention_ms) {
        if (owns(b.meta)) mark(b, "older than retention");
        continue;
      }
      live.push_back(b);
    }
    // A crash between publishing a block and marking its inputs leaves
    // blocks whose data another block already holds: mark them now.
    for (const auto& b : live) {
      if (redundant(b, live)) {
        if (owns(b.meta)) mark(b, "its sources are all in another block");
        continue;
      }
      catalog_.push_back({b, out_index(), rules_.group_labels(b.meta), true});
    }
    for (uint32_t i = 0; i < opts_.sources.size(); ++i)
      for (auto& b : discover_blocks(opts_.sources[i])) {
        if (b.deletion_marked || b.no_compact_marked || too_young(b)) continue;
        if (opts_.retention_ms && b.meta.max_time < now_ - *opts_.retention_ms) continue;
        auto group = rules_.group_labels(b.meta);
        catalog_.push_back({std::move(b), i, std::move(group), false});
      }
  }

  // The groups a catalog block is compacted into: its own, or, when split
  // compaction applies to it, each of the shards of its group.
  std::vector<std::pair<Group, std::optional<merge::SeriesShard>>> targets(
      const CatalogEntry& e) const {
    if (opts_.split_shards <= 1 || e.group.count(kShardLabel)) return {{e.group, std::nullopt}};
    std::vector<std::pair<Group, std::optional<merge::SeriesShard>>> out;
    for (uint64_t k = 0; k < opts_.split_shards; ++k) {
      merge::SeriesShard s{k, opts_.split_shards};
      Group g = e.group;
      g[kShardLabel] = shard_label_value(s);
      out.push_back({std::move(g), s});
    }
    return out;
  }

  void build_groups() {
    for (size_t c = 0; c < catalog_.size(); ++c) {
      const auto& e = catalog_[c];
      std::string own = label_map_text(e.group);
      for (auto& [labels, split] : targets(e)) {
        std::string text = label_map_text(labels);
        uint64_t hash = group_hash(labels);
        if (!owns_hash(hash)) continue;
        // Data the group already holds (for sources and split inputs).
        bool member_of_own = e.in_out && text == own;
        if (!member_of_own && is_subset(sources_of(e.block.meta), represented_[text])) continue;
        auto [it, fresh] = groups_.try_emplace(text);
        if (fresh) it->second = OutGroup{labels, text, hash, split, {}, nullptr};
        it->second.members.push_back(c);
      }
    }
  }

  void plan() {
    std::vector<PlanBlock> blocks;
    for (const auto& [text, g] : groups_)
      for (size_t c : g.members) {
        const auto& e = catalog_[c];
        bool in_group = e.in_out && label_map_text(e.group) == text;
        // Prometheus 3.x never compacts partial-view blocks (stale or
        // selected series only) with other blocks: plan each class apart.
        std::string plan_group = text;
        if (int cls = compaction_class(e.block.meta))
          plan_group += "\n" + std::string(compaction_class_name(cls));
        blocks.push_back({e.block.meta.ulid, e.block.meta.min_time, e.block.meta.max_time, in_group,
                          std::move(plan_group)});
        plan_refs_.push_back({c, &g});
      }
    jobs_ = plan_compaction(blocks, opts_.ranges);
  }

  static bool made_by_promblock(const FoundBlock& b) {
    return b.meta.thanos.is_object() && b.meta.thanos.value("source", "") == "promblock";
  }

  bool too_young(const FoundBlock& b) const {
    return ulid_time_ms(b.meta.ulid) > now_ - opts_.consistency_delay_ms;
  }

  // True when other live blocks hold all of b's data: one block of its own
  // group with all its sources, or (b unsplit) a block with all its
  // sources in every shard of one split of its group.
  bool redundant(const FoundBlock& b, const std::vector<FoundBlock>& live) const {
    auto mine = sources_of(b.meta);
    Group group = rules_.group_labels(b.meta);
    bool unsplit = !group.count(kShardLabel);
    std::map<uint64_t, std::set<uint64_t>> shards_holding;  // count -> indexes
    for (const auto& other : live) {
      if (other.meta.ulid == b.meta.ulid) continue;
      auto theirs = sources_of(other.meta);
      std::set<std::string> set(theirs.begin(), theirs.end());
      if (!is_subset(mine, set)) continue;
      Group og = rules_.group_labels(other.meta);
      if (og == group) {
        // Equal source sets: keep one of them, the newer.
        if (theirs.size() > mine.size() || other.meta.ulid > b.meta.ulid) return true;
        continue;
      }
      auto label = og.find(kShardLabel);
      if (!unsplit || label == og.end()) continue;
      auto shard = parse_shard_label_value(label->second);
      og.erase(label);
      if (!shard || og != group) continue;
      auto& held = shards_holding[shard->count];
      held.insert(shard->index);
      if (held.size() == shard->count) return true;
    }
    return false;
  }

  JobReport report(size_t i) const {
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
                                   : entry(in.index).block.meta.ulid);
    return r;
  }

  const CatalogEntry& entry(size_t plan_index) const {
    return catalog_[plan_refs_[plan_index].first];
  }

  // Jobs never mix groups: the group of any block it descends from.
  const OutGroup& group_of(size_t job) const {
    const JobInput& first = jobs_[job].inputs.front();
    return first.is_job ? group_of(first.index) : *plan_refs_[first.index].second;
  }

  void execute() {
    size_t n = jobs_.size();
    outputs_.assign(n, std::nullopt);
    errors_.assign(n, "");
    std::vector<bool> started(n, false);
    size_t finished = 0;
    while (finished < n) {
      std::vector<size_t> wave;
      for (size_t i = 0; i < n && int(wave.size()) < std::max(1, opts_.concurrency); ++i) {
        if (started[i]) continue;
        bool ready = true;
        for (const auto& in : jobs_[i].inputs)
          if (in.is_job && !(started[in.index] && is_finished(in.index))) ready = false;
        if (ready) wave.push_back(i);
      }
      if (wave.empty()) break;  // cannot happen: jobs only depend on earlier ones
      for (size_t i : wave) started[i] = true;
      if (wave.size() == 1) {
        run_job(wave[0]);
      } else {
        std::vector<std::thread> threads;
        for (size_t i : wave) threads.emplace_back([this, i] { run_job(i); });
        for (auto& t : threads) t.join();
      }
      for (size_t i : wave) finish_job(i);
      finished += wave.size();
    }
  }

  bool is_finished(size_t i) const { return outputs_[i].has_value() || !errors_[i].empty(); }

  // Concurrent jobs share the cores unless told otherwise.
  size_t merge_threads() const {
    if (opts_.threads > 0) return opts_.threads;
    return std::max<size_t>(1, default_thread_count() / size_t(std::max(1, opts_.concurrency)));
  }

  // Runs in a worker thread: touches only this job's slots.
  void run_job(size_t i) {
    const OutGroup& group = group_of(i);
    std::string tmp_name;
    try {
      std::vector<merge::MergeInput> inputs;
      for (const auto& in : jobs_[i].inputs) {
        if (in.is_job) {
          if (!outputs_[in.index])
            throw Error("input job " + std::to_string(in.index + 1) + " failed");
          inputs.push_back({*outputs_[in.index], out_index()});
        } else {
          inputs.push_back({entry(in.index).block, entry(in.index).source_index});
        }
      }
      merge::MergeOptions mo;
      mo.out_dir = opts_.out_dir;
      mo.replica_labels = opts_.replica_labels;
      mo.mode = jobs_[i].vertical ? opts_.mode : merge::DedupMode::kChain;
      mo.encodings = opts_.encodings;
      mo.threads = merge_threads();
      // Merges report bytes on their own thread: sum them; only a job on
      // the calling thread (one at a time) passes them on as it goes.
      uint64_t job_bytes = 0;
      mo.progress = [this, &job_bytes](uint64_t, uint64_t, uint64_t bytes) {
        bytes_written_ += bytes - job_bytes;
        job_bytes = bytes;
        if (opts_.concurrency <= 1) report_progress();
      };
      mo.shard = group.split;
      mo.ulid = new_ulid();
      tmp_name = mo.ulid + std::string(BlockWriter::kTmpSuffix);
      // Listed before it exists, so that no cleanup takes it for a leftover.
      group.lock->add_writing(tmp_name);
      mo.before_commit = [lock = group.lock] { lock->check(); };
      auto result = merge::merge_blocks(inputs, mo);
      group.lock->remove_writing(tmp_name);
      outputs_[i] = discover_blocks(result.path).at(0);
    } catch (const std::exception& e) {
      if (!tmp_name.empty()) group.lock->remove_writing(tmp_name);
      errors_[i] = e.what();
    }
  }

  void report_progress() {
    if (opts_.progress) opts_.progress(jobs_finished_, jobs_.size(), bytes_written_.load());
  }

  void finish_job(size_t i) {
    ++jobs_finished_;
    report_progress();
    JobReport r = report(i);
    if (outputs_[i]) {
      r.output = outputs_[i]->meta.ulid;
      ++summary_.jobs_done;
      ++summary_.blocks_written;
      // Inputs of this group in the output directory are replaced: mark
      // them. (Inputs being split are marked once every shard has them.)
      for (const auto& in : jobs_[i].inputs) {
        if (in.is_job)
          mark(*outputs_[in.index], "compacted into " + r.output);
        else if (entry(in.index).in_out &&
                 label_map_text(entry(in.index).group) == plan_refs_[in.index].second->text)
          mark(entry(in.index).block, "compacted into " + r.output);
      }
    } else {
      r.error = errors_[i];
      ++summary_.jobs_failed;
      std::cerr << "promblock: job " << r.number << " failed: " << errors_[i] << "\n";
    }
    on_job_(r);
  }

  const CompactOptions& opts_;
  const std::function<void(const JobReport&)>& on_job_;
  // Destroyed last: the group locks below need their set.
  std::unique_ptr<DirLock> dir_lock_;
  std::unique_ptr<GroupLockSet> lock_set_;
  merge::ReplicaRules rules_;
  int64_t now_;
  std::vector<CatalogEntry> catalog_;
  std::map<std::string, std::set<std::string>> represented_;  // by group text
  std::map<std::string, OutGroup> groups_;
  std::map<std::string, std::shared_ptr<GroupLock>> locks_;
  std::vector<std::pair<size_t, const OutGroup*>> plan_refs_;  // plan block -> entry, group
  std::vector<Job> jobs_;
  std::vector<std::optional<FoundBlock>> outputs_;
  std::vector<std::string> errors_;
  uint64_t jobs_finished_ = 0;
  std::atomic<uint64_t> bytes_written_{0};
  CompactSummary summary_;
};

}  // namespace

CompactSummary run_compaction(const CompactOptions& opts,
                              const std::function<void(const JobReport&)>& on_job) {
  return Run(opts, on_job).go();
}

}  // namespace promblock::compact
