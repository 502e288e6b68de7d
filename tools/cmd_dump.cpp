// promblock dump: the samples of the given sources, as `promtool tsdb dump`
// prints them (text) or as OpenMetrics.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/openmetrics.h"
#include "tsdb/base/error.h"
#include "tsdb/base/go_format.h"
#include "tsdb/block/discover.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/model/selector.h"
#include "tsdb/model/timeparse.h"
#include "tsdb/query/series_set.h"

namespace promblock::tools {

namespace {

struct DumpOptions {
  std::vector<std::string> sources;
  std::vector<std::string> matches;
  std::string min_time, max_time;
  std::string format = "text";
};

// Buffers stdout in large writes; dumps are often millions of lines.
class Output {
 public:
  ~Output() { flush(); }
  void append(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= (1 << 20)) flush();
  }
  void flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
  }

 private:
  std::string buf_;
};

// One JSON object of labels per series, each printed once (promtool
// 3.9+'s `tsdb dump --format seriesjson`).
void write_series_json(MergedSeriesSet& series, Output& out) {
  std::unordered_set<std::string> seen;
  while (series.next()) {
    std::string json = labels_to_json(series.labels());
    if (!seen.insert(json).second) continue;
    json += '\n';
    out.append(json);
  }
}

// One line per sample, as promtool prints them or as OpenMetrics.
void write_samples(MergedSeriesSet& series, bool openmetrics, Output& out) {
  std::string line;
  while (series.next()) {
    std::string name =
        openmetrics ? openmetrics_series(series.labels()) : labels_to_string(series.labels());
    auto it = series.samples();
    while (it->next()) {
      const chunkenc::HistogramSample* h = it->histogram();
      const chunkenc::FloatHistogramSample* fh = it->float_histogram();
      if ((h || fh) && openmetrics)
        throw Error("series " + labels_to_string(series.labels()) +
                    " holds native histograms, which OpenMetrics text cannot carry; dump it "
                    "with --format text");
      line = name;
      line += ' ';
      line += h    ? chunkenc::format_histogram(*h)
              : fh ? chunkenc::format_histogram(*fh)
                   : go_format_g(it->v());
      line += ' ';
      line += openmetrics ? openmetrics_timestamp(it->t()) : std::to_string(it->t());
      line += '\n';
      out.append(line);
    }
  }
  if (openmetrics) out.append("# EOF\n");
}

int run_dump(const DumpOptions& opt) {
  int64_t mint = std::numeric_limits<int64_t>::min();
  int64_t maxt = std::numeric_limits<int64_t>::max();
  if (!opt.min_time.empty()) mint = parse_time_ms(opt.min_time);
  if (!opt.max_time.empty()) maxt = parse_time_ms(opt.max_time);
  std::vector<std::vector<Matcher>> selectors;
  for (const auto& m : opt.matches) selectors.push_back(parse_selector(m));
  if (selectors.empty()) selectors.emplace_back();  // no matcher: every series

  BucketSession session;
  auto found = discover_blocks(session.localize(opt.sources));
  std::vector<std::unique_ptr<BlockReader>> blocks;
  std::vector<std::unique_ptr<SeriesSet>> sets;
  for (const auto& f : found) {
    // meta.json maxTime is exclusive; skip blocks outside the range.
    if (f.meta.max_time <= mint || f.meta.min_time > maxt) continue;
    blocks.push_back(std::make_unique<BlockReader>(f.dir));
    // Several --match selectors select the union of their series; the merge
    // joins a series matched twice.
    for (const auto& sel : selectors)
      sets.push_back(std::make_unique<BlockSeriesSet>(*blocks.back(), sel, mint, maxt));
  }
  MergedSeriesSet series(std::move(sets));
  Output out;
  if (opt.format == "seriesjson")
    write_series_json(series, out);
  else
    write_samples(series, opt.format == "openmetrics", out);
  return kExitOk;
}

}  // namespace

void register_dump(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand(
      "dump", "Print the samples of the given sources (text is what `promtool tsdb dump` prints)");
  cmd->add_option("SOURCE", opt->sources,
                  "Block, Prometheus data dir, Thanos bucket dir, or bucket:[PATH]")
      ->required();
  cmd->add_option("--match", opt->matches,
                  "Series selector, e.g. 'up{job=\"api\"}'; repeat for the union");
  cmd->add_option("--min-time", opt->min_time,
                  "Earliest sample: RFC 3339, Unix seconds, or milliseconds with 'ms'");
  cmd->add_option("--max-time", opt->max_time, "Latest sample (inclusive), same syntax");
  cmd->add_option("--format", opt->format,
                  "text (as promtool tsdb dump), openmetrics, or seriesjson (the labels of each "
                  "series as one JSON object a line, as promtool tsdb dump --format seriesjson)")
      ->check(CLI::IsMember({"text", "openmetrics", "seriesjson"}));
  cmd->callback([opt, &run] { run = [opt] { return run_dump(*opt); }; });
}

}  // namespace promblock::tools
