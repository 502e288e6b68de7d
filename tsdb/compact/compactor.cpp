#include "tsdb/compact/compactor.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "tsdb/block/discover.h"
#include "tsdb/compact/marks.h"
#include "tsdb/dir_lock.h"
#include "tsdb/error.h"
#include "tsdb/merge/block_merger.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/ordered_parallel.h"
#include "tsdb/ulid.h"

namespace promblock::compact {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string group_text(const std::map<std::string, std::string>& labels) {
  std::string s = "{";
  for (const auto& [k, v] : labels) s += (s.size() > 1 ? "," : "") + k + "=\"" + v + "\"";
  return s + "}";
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
  std::map<std::string, std::string> group;
};

class Run {
 public:
  Run(const CompactOptions& opts, const std::function<void(const JobReport&)>& on_job)
      : opts_(opts), on_job_(on_job), rules_(opts.replica_labels), now_(now_ms()) {}

  CompactSummary go() {
    std::unique_ptr<DirLock> lock;
    if (!opts_.dry_run) {
      lock = std::make_unique<DirLock>(opts_.out_dir);
      remove_leftover_tmp_dirs(opts_.out_dir);
      delete_expired();
    }
    build_catalog();
    std::vector<PlanBlock> plan_blocks;
    for (const auto& e : catalog_)
      plan_blocks.push_back({e.block.meta.ulid, e.block.meta.min_time, e.block.meta.max_time,
                             e.source_index == out_index(), group_text(e.group)});
    jobs_ = plan_compaction(plan_blocks, opts_.ranges);
    summary_.jobs_planned = jobs_.size();
    if (opts_.dry_run) {
      for (size_t i = 0; i < jobs_.size(); ++i) on_job_(report(i));
      return summary_;
    }
    execute();
    delete_expired();
    return summary_;
  }

 private:
  uint32_t out_index() const { return uint32_t(opts_.sources.size()); }

  void mark(const FoundBlock& b, const std::string& details) {
    if (opts_.dry_run) return;
    write_deletion_mark(b.dir, b.meta.ulid, details, now_ / 1000);
    ++summary_.blocks_marked;
  }

  void delete_expired() {
    std::error_code ec;
    if (!std::filesystem::exists(opts_.out_dir, ec)) return;
    int64_t now_s = now_ms() / 1000;
    for (const auto& b : discover_blocks(opts_.out_dir)) {
      if (!b.deletion_marked) continue;
      auto t = deletion_time(b.dir, now_s);
      if (t && (*t) * 1000 + opts_.delete_delay_ms <= now_ms()) {
        delete_block(b.dir);
        ++summary_.blocks_deleted;
      }
    }
  }

  void build_catalog() {
    std::error_code ec;
    std::vector<FoundBlock> out_blocks;
    if (std::filesystem::exists(opts_.out_dir, ec)) out_blocks = discover_blocks(opts_.out_dir);
    // Sources held by live output blocks. A deletion-marked block's data
    // lives on in the block that replaced it, which lists the same sources;
    // where nothing replaced it (retention), its old sources are skipped
    // below by the same retention rule.
    std::set<std::string> represented;
    for (const auto& b : out_blocks)
      if (!b.deletion_marked)
        for (const auto& s : sources_of(b.meta)) represented.insert(s);

    std::vector<const FoundBlock*> live;
    for (const auto& b : out_blocks) {
      if (b.deletion_marked || b.no_compact_marked) continue;
      // In place, blocks not written by promblock may still be arriving.
      if (opts_.sources.empty() && !made_by_promblock(b) && too_young(b)) continue;
      if (opts_.retention_ms && b.meta.max_time < now_ - *opts_.retention_ms) {
        mark(b, "older than retention");
        continue;
      }
      live.push_back(&b);
    }
    // A crash between publishing a block and marking its inputs leaves
    // blocks whose data another block already holds: mark them now.
    for (const auto* b : live) {
      if (redundant(*b, live)) {
        mark(*b, "its sources are all in another block");
        continue;
      }
      catalog_.push_back({*b, out_index(), rules_.group_labels(b->meta)});
    }
    for (uint32_t i = 0; i < opts_.sources.size(); ++i)
      for (auto& b : discover_blocks(opts_.sources[i])) {
        if (b.deletion_marked || b.no_compact_marked || too_young(b)) continue;
        if (is_subset(sources_of(b.meta), represented)) continue;
        if (opts_.retention_ms && b.meta.max_time < now_ - *opts_.retention_ms) continue;
        auto group = rules_.group_labels(b.meta);
        catalog_.push_back({std::move(b), i, std::move(group)});
      }
  }

  static bool made_by_promblock(const FoundBlock& b) {
    return b.meta.thanos.is_object() && b.meta.thanos.value("source", "") == "promblock";
  }

  bool too_young(const FoundBlock& b) const {
    return ulid_time_ms(b.meta.ulid) > now_ - opts_.consistency_delay_ms;
  }

  static bool redundant(const FoundBlock& b, const std::vector<const FoundBlock*>& live) {
    auto mine = sources_of(b.meta);
    for (const auto* other : live) {
      if (other == &b) continue;
      auto theirs = sources_of(other->meta);
      std::set<std::string> set(theirs.begin(), theirs.end());
      if (!is_subset(mine, set)) continue;
      // Equal source sets: keep one of them, the newer.
      if (theirs.size() > mine.size() || other->meta.ulid > b.meta.ulid) return true;
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
    r.group = group_of(i);
    for (const auto& in : job.inputs)
      r.inputs.push_back(in.is_job ? "job:" + std::to_string(in.index + 1)
                                   : catalog_[in.index].block.meta.ulid);
    return r;
  }

  // Jobs never mix groups: the group of any catalog block it descends from.
  const std::map<std::string, std::string>& group_of(size_t job) const {
    const JobInput& first = jobs_[job].inputs.front();
    return first.is_job ? group_of(first.index) : catalog_[first.index].group;
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
    try {
      std::vector<merge::MergeInput> inputs;
      for (const auto& in : jobs_[i].inputs) {
        if (in.is_job) {
          if (!outputs_[in.index])
            throw Error("input job " + std::to_string(in.index + 1) + " failed");
          inputs.push_back({*outputs_[in.index], out_index()});
        } else {
          inputs.push_back({catalog_[in.index].block, catalog_[in.index].source_index});
        }
      }
      merge::MergeOptions mo{opts_.out_dir,
                             opts_.replica_labels,
                             jobs_[i].vertical ? opts_.mode : merge::DedupMode::kChain,
                             merge_threads(),
                             {}};
      auto result = merge::merge_blocks(inputs, mo);
      outputs_[i] = discover_blocks(result.path).at(0);
    } catch (const std::exception& e) {
      errors_[i] = e.what();
    }
  }

  void finish_job(size_t i) {
    JobReport r = report(i);
    if (outputs_[i]) {
      r.output = outputs_[i]->meta.ulid;
      ++summary_.jobs_done;
      ++summary_.blocks_written;
      // Inputs in the output directory are replaced: mark them.
      for (const auto& in : jobs_[i].inputs) {
        if (in.is_job)
          mark(*outputs_[in.index], "compacted into " + r.output);
        else if (catalog_[in.index].source_index == out_index())
          mark(catalog_[in.index].block, "compacted into " + r.output);
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
  merge::ReplicaRules rules_;
  int64_t now_;
  std::vector<CatalogEntry> catalog_;
  std::vector<Job> jobs_;
  std::vector<std::optional<FoundBlock>> outputs_;
  std::vector<std::string> errors_;
  CompactSummary summary_;
};

}  // namespace

CompactSummary run_compaction(const CompactOptions& opts,
                              const std::function<void(const JobReport&)>& on_job) {
  return Run(opts, on_job).go();
}

}  // namespace promblock::compact
