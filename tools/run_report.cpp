#include "tools/run_report.h"

#include <unistd.h>

#include <exception>

#include "tools/command.h"
#include "tools/log.h"
#include "tools/metrics_file.h"
#include "tools/pushgateway.h"
#include "tools/run_metrics.h"

namespace promblock::tools {

namespace {

constexpr const char* kLastSuccess = "promblock_last_success_timestamp_seconds";
constexpr const char* kLastSuccessHelp =
    "Unix time the last successful run (exit code 0) of this command and shard ended; "
    "0 when none is known";

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "unknown";
  return buf;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

ReportOptions& report_options() {
  static ReportOptions options;
  return options;
}

void add_report_options(CLI::App& app) {
  auto& o = report_options();
  app.add_option("--metrics-file", o.metrics_file,
                 "At the end of the run, also a failed one, write its metrics to FILE "
                 "(Prometheus text format, atomically), e.g. for node_exporter's textfile "
                 "collector");
  app.add_option("--pushgateway", o.pushgateway,
                 "At the end of the run, also a failed one, push its metrics to the "
                 "Prometheus Pushgateway at URL; a failed push is a warning");
  app.add_option("--pushgateway-job", o.job,
                 "Job name of the push (default promblock); instance, command and shard "
                 "complete the grouping key");
  app.add_flag("--pushgateway-required", o.push_required,
               "A failed push makes an otherwise successful run exit 1");
}

int report_run(const std::string& command, int exit_code,
               std::chrono::steady_clock::time_point started) {
  const auto& o = report_options();
  if (o.metrics_file.empty() && o.pushgateway.empty()) return exit_code;
  auto& m = run_metrics();
  double now = unix_now();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.set("promblock_last_run_timestamp_seconds",
        "Unix time the last run of this command and shard ended", now);
  m.set("promblock_run_duration_seconds", "How long the last run took", seconds);
  auto set_exit_code = [&](int code) {
    m.set("promblock_run_exit_code",
          "Exit code of the last run: 0 ok, 1 failed, 2 bad usage, 75 locked out", code);
  };
  set_exit_code(exit_code);
  const bool ok = exit_code == kExitOk;
  const MetricLabels common{{"command", command}, {"shard", m.shard()}};
  int rc = exit_code;
  if (ok) m.set(kLastSuccess, kLastSuccessHelp, now);
  if (!o.metrics_file.empty()) {
    // A failed run keeps the last success of the file it replaces, so that
    // "no success for a day" stays true to the facts.
    if (!ok) {
      auto before = find_metric_sample(read_metrics_file(o.metrics_file), kLastSuccess, common);
      m.set(kLastSuccess, kLastSuccessHelp, before.value_or(0));
    }
    try {
      write_metrics_file(o.metrics_file, m.render(common));
    } catch (const std::exception& e) {
      log_error(std::string("--metrics-file: ") + e.what());
      if (rc == kExitOk) rc = kExitFailed;
    }
  }
  if (!o.pushgateway.empty()) {
    // What is pushed is how the run ends: a metrics file that could not be
    // written has made it fail.
    const bool push_ok = rc == kExitOk;
    if (rc != exit_code) set_exit_code(rc);
    // A failed run is POSTed without its last success: the Pushgateway then
    // keeps the value the last successful run PUT there.
    if (!push_ok) m.erase(kLastSuccess);
    PushRequest r;
    r.url = o.pushgateway;
    r.job = o.job;
    r.grouping = {{"instance", host_name()}, {"command", command}, {"shard", m.shard()}};
    r.body = m.render(common);
    r.replace = push_ok;
    std::string err = push_metrics(r);
    if (!err.empty()) {
      log_warning("metrics not pushed to the Pushgateway: " + err);
      if (o.push_required && rc == kExitOk) rc = kExitFailed;
    }
  }
  return rc;
}

}  // namespace promblock::tools
