// promblock: one binary, subcommands in tools/cmd_<name>.cpp.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/log.h"
#include "tools/run_report.h"
#include "tsdb/base/allocator_tuning.h"
#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"
#include "tsdb/model/timeparse.h"

#ifndef PROMBLOCK_VERSION  // set by CMakeLists.txt
#define PROMBLOCK_VERSION "0.0.0"
#define PROMBLOCK_COMMIT "unknown"
#endif

int main(int argc, char** argv) {
  namespace t = promblock::tools;
  promblock::tune_allocator();
  CLI::App app{
      "promblock: merge, deduplicate, compact, inspect and back up Prometheus TSDB blocks"};
  app.require_subcommand(1);
  // Global options, accepted before or after the command.
  app.fallthrough();
  auto& log = t::log_settings();
  app.add_flag(
      "--quiet,-q", log.quiet,
      "Print nothing on stderr but errors and warnings (no notices, summaries or progress)");
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "Format of stderr lines: text (default), logfmt, json")
      ->check(CLI::IsMember({"text", "logfmt", "json"}));
  t::add_objstore_options(app);
  t::add_report_options(app);
  app.set_version_flag("--version",
                       "promblock " PROMBLOCK_VERSION " (commit " PROMBLOCK_COMMIT ")");
  t::Runner run;
  t::register_ls(app, run);
  t::register_dump(app, run);
  t::register_merge(app, run);
  t::register_compact(app, run);
  t::register_verify(app, run);
  t::register_analyze(app, run);
  t::register_rewrite(app, run);
  t::register_backup(app, run);
  t::register_restore(app, run);
  // A repeatable flag takes one value per use (`--replica-label a
  // --replica-label b`): without this CLI11 lets `--replica-label a DIR1
  // DIR2` swallow the sources as more labels.
  for (auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    for (auto* opt : sub->get_options())
      if (!opt->get_positional() && opt->get_items_expected_max() > 1) opt->allow_extra_args(false);
  try {
    app.parse(argc, argv);
    log.format = log_format == "json"     ? t::LogFormat::kJson
                 : log_format == "logfmt" ? t::LogFormat::kLogfmt
                                          : t::LogFormat::kText;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    t::log_error(std::string(e.what()) + " (see --help)");
    return t::kExitUsage;
  }
  auto started = std::chrono::steady_clock::now();
  int rc = [&] {
    try {
      int rc = run();
      if (std::fflush(stdout) != 0) {
        t::log_error("error writing to stdout");
        return t::kExitFailed;
      }
      return rc;
    } catch (const promblock::LockedError& e) {
      t::log_error(e.what());
      return t::kExitLocked;
    } catch (const promblock::UsageError& e) {
      t::log_error(e.what());
      return t::kExitUsage;
    } catch (const std::exception& e) {
      std::fflush(stdout);
      t::log_error(e.what());
      return t::kExitFailed;
    }
  }();
  // Every way out of the run reports it (--metrics-file, --pushgateway).
  return t::report_run(app.get_subcommands().front()->get_name(), rc, started);
}
