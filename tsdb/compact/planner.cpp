#include "tsdb/compact/planner.h"

#include <algorithm>

#include "tsdb/model/timeparse.h"

namespace promblock::compact {

namespace {

struct Node {
  JobInput ref;
  int64_t min_time;
  int64_t max_time;
  bool from_source;
};

void sort_by_min_time(std::vector<Node>& nodes) {
  std::stable_sort(nodes.begin(), nodes.end(),
                   [](const Node& a, const Node& b) { return a.min_time < b.min_time; });
}

int64_t window_start(int64_t t, int64_t range) {
  int64_t q = t / range;
  if (t % range != 0 && t < 0) --q;  // floor, also before the epoch
  return q * range;
}

// Blocks lying entirely inside one epoch-aligned window of `range`, by
// window (Prometheus's splitByRange). Misaligned or larger blocks are left
// out.
std::vector<std::vector<size_t>> split_by_range(const std::vector<Node>& nodes, int64_t range) {
  std::vector<std::vector<size_t>> parts;
  size_t i = 0;
  while (i < nodes.size()) {
    int64_t t0 = window_start(nodes[i].min_time, range);
    if (nodes[i].max_time > t0 + range) {
      ++i;
      continue;
    }
    std::vector<size_t> part;
    for (; i < nodes.size() && nodes[i].max_time <= t0 + range; ++i) part.push_back(i);
    parts.push_back(std::move(part));
  }
  return parts;
}

Job make_job(const std::string& group, const std::vector<Node>& inputs, std::string reason,
             bool vertical) {
  Job job{group, {}, inputs.front().min_time, inputs.front().max_time, std::move(reason), vertical};
  for (const auto& n : inputs) {
    job.inputs.push_back(n.ref);
    // A vertical job's inputs dedup together; a leveled job's overlap nothing.
    job.inputs.back().cluster = vertical ? 0 : uint32_t(job.inputs.size() - 1);
    job.min_time = std::min(job.min_time, n.min_time);
    job.max_time = std::max(job.max_time, n.max_time);
  }
  return job;
}

void plan_group(const std::string& group, std::vector<Node> nodes,
                const std::vector<int64_t>& ranges, std::vector<Job>& jobs) {
  sort_by_min_time(nodes);
  // 1. Vertical: clusters of overlapping blocks (half-open [min, max)).
  std::vector<Node> out;
  for (size_t i = 0; i < nodes.size();) {
    size_t end = i + 1;
    int64_t cluster_max = nodes[i].max_time;
    bool has_source = nodes[i].from_source;
    while (end < nodes.size() && nodes[end].min_time < cluster_max) {
      cluster_max = std::max(cluster_max, nodes[end].max_time);
      has_source |= nodes[end].from_source;
      ++end;
    }
    std::vector<Node> cluster(nodes.begin() + long(i), nodes.begin() + long(end));
    if (cluster.size() > 1 || has_source) {
      jobs.push_back(make_job(group, cluster, cluster.size() == 1 ? "copy" : "vertical", true));
      out.push_back({{true, jobs.size() - 1}, jobs.back().min_time, jobs.back().max_time, false});
    } else {
      out.push_back(cluster[0]);
    }
    i = end;
  }
  // 2. Leveled, until nothing more is selected.
  for (;;) {
    sort_by_min_time(out);
    if (out.size() < 3) break;  // the newest never takes part: one more is no work
    // As Prometheus: the newest block is left out, and a window that does
    // not span its whole range is taken only when it ends before the
    // newest remaining block starts.
    std::vector<Node> candidates(out.begin(), out.end() - 1);
    int64_t high_time = candidates.back().min_time;
    std::vector<size_t> selected;
    int64_t selected_range = 0;
    for (size_t r = 1; r < ranges.size() && selected.empty(); ++r)
      for (const auto& part : split_by_range(candidates, ranges[r])) {
        int64_t mint = candidates[part.front()].min_time;
        int64_t maxt = candidates[part.back()].max_time;
        if (part.size() > 1 && (maxt - mint == ranges[r] || maxt <= high_time)) {
          selected = part;
          selected_range = ranges[r];
          break;
        }
      }
    if (selected.empty()) break;
    std::vector<Node> inputs;
    for (size_t k : selected) inputs.push_back(candidates[k]);
    jobs.push_back(make_job(group, inputs, "compact " + format_duration_ms(selected_range), false));
    std::vector<Node> next;
    for (size_t k = 0; k < candidates.size(); ++k)
      if (std::find(selected.begin(), selected.end(), k) == selected.end())
        next.push_back(candidates[k]);
    next.push_back(out.back());
    next.push_back({{true, jobs.size() - 1}, jobs.back().min_time, jobs.back().max_time, false});
    out = std::move(next);
  }
}

// A leveled job whose inputs include jobs of this run takes their inputs
// instead, and they are dropped: the top block comes out of one pass with
// the same series and chunks, without writing and re-reading every
// intermediate level. Leveled merges of blocks that do not overlap copy
// chunks as they are; a vertical job's dedup (Prometheus and Thanos do it
// window by window, and penalty's differs over a longer span) is kept by
// giving its inputs a cluster of their own.
void collapse_leveled_chains(std::vector<Job>& jobs) {
  // Inputs one merge reads at once: each keeps some of its pages resident
  // (the batches in flight, up to a large folio ahead), under 1 MB, so
  // memory grows with their number. 48 takes two of Thanos's levels in one
  // pass, for two replicas too (2 x 4 x 2h -> 8h, 6 x 8h -> 2d).
  constexpr size_t kMaxInputs = 48;
  std::vector<bool> absorbed(jobs.size(), false);
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (jobs[j].vertical) continue;
    std::vector<JobInput> flat;
    std::vector<size_t> taken;
    uint32_t clusters = 0;
    for (const auto& in : jobs[j].inputs) {
      if (!in.is_job) {
        flat.push_back({in.is_job, in.index, clusters++});
        continue;
      }
      // Jobs before j are final already: their clusters are numbered.
      taken.push_back(in.index);
      uint32_t base = clusters;
      for (const auto& inner : jobs[in.index].inputs) {
        flat.push_back({inner.is_job, inner.index, base + inner.cluster});
        clusters = std::max(clusters, base + inner.cluster + 1);
      }
    }
    if (taken.empty() || flat.size() > kMaxInputs) continue;
    for (size_t k : taken) absorbed[k] = true;
    jobs[j].inputs = std::move(flat);
  }
  std::vector<size_t> new_index(jobs.size());
  std::vector<Job> kept;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (absorbed[j]) continue;
    new_index[j] = kept.size();
    kept.push_back(std::move(jobs[j]));
  }
  for (auto& job : kept)
    for (auto& in : job.inputs)
      if (in.is_job) in.index = new_index[in.index];
  jobs = std::move(kept);
}

}  // namespace

std::vector<Job> plan_compaction(const std::vector<PlanBlock>& blocks,
                                 const std::vector<int64_t>& ranges) {
  std::map<std::string, std::vector<Node>> groups;
  for (size_t i = 0; i < blocks.size(); ++i)
    groups[blocks[i].group].push_back(
        {{false, i}, blocks[i].min_time, blocks[i].max_time, !blocks[i].in_out});
  std::vector<Job> jobs;
  for (auto& [group, nodes] : groups) plan_group(group, std::move(nodes), ranges, jobs);
  collapse_leveled_chains(jobs);
  return jobs;
}

}  // namespace promblock::compact
