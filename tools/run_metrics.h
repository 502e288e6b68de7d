#pragma once
// The numbers one run reports about itself (promblock(1), METRICS), in the
// Prometheus text exposition format. Every metric is a gauge: each run
// writes (or pushes) a fresh set describing that run, so a per-run total
// would reset with every run, and rate() over one sample a day means
// nothing; counters would need state kept between runs.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace promblock::tools {

// Label pairs of one sample, in the order they are written.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class RunMetrics {
 public:
  // Sets the sample of gauge `name` with `labels` to `value`; `help` says
  // what the family measures (the first one given is kept).
  void set(const std::string& name, const std::string& help, double value,
           const MetricLabels& labels = {});
  // Adds `delta` to that sample (0 when it is new).
  void add(const std::string& name, const std::string& help, double delta,
           const MetricLabels& labels = {});
  void erase(const std::string& name);
  bool has(const std::string& name) const { return families_.count(name) > 0; }

  // Families in name order, each with HELP and TYPE lines, then its samples
  // in label order, each led by the `common` labels (command, shard).
  std::string render(const MetricLabels& common) const;

  // The shard this run worked on ("0-of-2"), "all" when not sharded.
  const std::string& shard() const { return shard_; }
  void set_shard(std::string s) { shard_ = std::move(s); }

 private:
  struct Family {
    std::string help;
    std::map<MetricLabels, double> samples;
  };
  std::map<std::string, Family, std::less<>> families_;
  std::string shard_ = "all";
};

// The metrics of this run, filled in by the command as it goes.
RunMetrics& run_metrics();

// A sample value: integers without a fraction, others in the shortest form
// that reads back the same; NaN, +Inf, -Inf.
std::string format_metric_value(double v);

// The value of the sample `name` whose labels are exactly `labels` (in any
// order) in exposition text, if there is one; lines it cannot read are
// skipped (an old file is only a hint).
std::optional<double> find_metric_sample(std::string_view text, std::string_view name,
                                         const MetricLabels& labels);

}  // namespace promblock::tools
