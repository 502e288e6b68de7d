#pragma once
// A run reports itself when it ends, whatever its outcome: its metrics
// (tools/run_metrics.h) go to --metrics-file (for node_exporter's textfile
// collector) and/or to --pushgateway.
#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace promblock::tools {

struct ReportOptions {
  std::string metrics_file;
  std::string pushgateway;
  std::string job = "promblock";
  bool push_required = false;
};
ReportOptions& report_options();
// Registers the options above on the app, as global options.
void add_report_options(CLI::App& app);

// Adds the run's own metrics (timestamps, duration, exit code) for
// `command`, writes and pushes them as the options ask. Returns the exit
// code to end with: `exit_code`, or 1 instead of 0 when the metrics file
// cannot be written or (--pushgateway-required) the push failed.
int report_run(const std::string& command, int exit_code,
               std::chrono::steady_clock::time_point started);

}  // namespace promblock::tools
