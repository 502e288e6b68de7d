#pragma once
// Each subcommand registers itself on the CLI app and returns the exit code
// of its run (exit codes: promblock(1), EXIT STATUS).
#include <CLI/CLI.hpp>
#include <functional>

namespace promblock::tools {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitLocked = 75;

// Registers a subcommand; `run` is set to its action when it is chosen.
using Runner = std::function<int()>;
void register_ls(CLI::App& app, Runner& run);
void register_dump(CLI::App& app, Runner& run);
void register_merge(CLI::App& app, Runner& run);
void register_compact(CLI::App& app, Runner& run);
void register_verify(CLI::App& app, Runner& run);
void register_analyze(CLI::App& app, Runner& run);
void register_rewrite(CLI::App& app, Runner& run);
void register_backup(CLI::App& app, Runner& run);
void register_restore(CLI::App& app, Runner& run);

}  // namespace promblock::tools
