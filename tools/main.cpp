// promblock: one binary, subcommands in tools/cmd_<name>.cpp.
#include <cstdio>
#include <iostream>

#include "tools/command.h"
#include "tsdb/dir_lock.h"
#include "tsdb/error.h"
#include "tsdb/timeparse.h"

#ifndef PROMBLOCK_VERSION  // set by CMakeLists.txt
#define PROMBLOCK_VERSION "0.0.0"
#define PROMBLOCK_COMMIT "unknown"
#endif

int main(int argc, char** argv) {
  namespace t = promblock::tools;
  CLI::App app{
      "promblock: merge, deduplicate, compact, inspect and back up Prometheus TSDB blocks"};
  app.require_subcommand(1);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "promblock: " << e.what() << " (see --help)\n";
    return t::kExitUsage;
  }
  try {
    int rc = run();
    if (std::fflush(stdout) != 0) {
      std::cerr << "promblock: error writing to stdout\n";
      return t::kExitFailed;
    }
    return rc;
  } catch (const promblock::LockedError& e) {
    std::cerr << "promblock: " << e.what() << "\n";
    return t::kExitLocked;
  } catch (const promblock::UsageError& e) {
    std::cerr << "promblock: " << e.what() << "\n";
    return t::kExitUsage;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "promblock: " << e.what() << "\n";
    return t::kExitFailed;
  }
}
