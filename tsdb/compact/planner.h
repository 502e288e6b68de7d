#pragma once
// Plans compaction from meta.json facts only (no block data is read), so
// a dry run is cheap and exact. Per group of blocks:
//  1. vertical: every cluster of time-overlapping blocks that holds a
//     source block (or several output blocks) becomes one block;
//  2. leveled, as Prometheus's planner: excluding the newest block, the
//     first epoch-aligned window of a range (smallest range first, the
//     first range being the block size) holding several blocks that span
//     it, or end before the newest block starts, is merged; repeated.
//     A level built on levels or vertical jobs of this same run is merged
//     from their inputs in one job (the same series and chunks, fewer
//     passes); the inputs of each vertical job taken in are numbered as
//     one cluster, which dedups apart from the others, as its own job
//     would have.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace promblock::compact {

struct PlanBlock {
  std::string ulid;
  int64_t min_time = 0;
  int64_t max_time = 0;
  bool in_out = false;  // already in the output directory
  std::string group;    // external labels without replica labels, as text
};

// An input of a job: a catalog block, or the output of an earlier job.
struct JobInput {
  bool is_job = false;
  size_t index = 0;
  // Inputs of a job dedup only with those of the same cluster (the
  // vertical job they were taken from, or themselves alone); clusters are
  // numbered in time order.
  uint32_t cluster = 0;
  bool operator==(const JobInput&) const = default;
};

struct Job {
  std::string group;
  std::vector<JobInput> inputs;
  int64_t min_time = 0;
  int64_t max_time = 0;
  std::string reason;  // "copy", "vertical", or "compact <range>"
  bool vertical = false;
};

// `ranges` in ms, ascending; blocks may be in any order.
std::vector<Job> plan_compaction(const std::vector<PlanBlock>& blocks,
                                 const std::vector<int64_t>& ranges);

}  // namespace promblock::compact
