// promblock backup: the complete blocks of a source as a zstd-compressed tar
// on stdout (layout and guarantees in tsdb/archive/backup.h).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/log.h"
#include "tsdb/archive/backup.h"
#include "tsdb/archive/byte_stream.h"
#include "tsdb/archive/zstd_stream.h"
#include "tsdb/base/usage_error.h"

namespace promblock::tools {

namespace {

struct BackupArgs {
  std::string source;
  std::string since;
  int level = 0;
  int zstd_level = archive::ZstdWriter::kDefaultLevel;
};

int run_backup(const BackupArgs& a) {
  if (::isatty(STDOUT_FILENO)) {
    log_error(
        "backup writes a binary archive to stdout and stdout is a terminal; "
        "redirect it to a file or a pipe (promblock backup SOURCE > FILE.tar.zst)");
    return kExitUsage;
  }
  archive::BackupFilter filter;
  if (!a.since.empty()) {
    try {
      archive::parse_since(a.since, filter);
    } catch (const UsageError& e) {
      throw UsageError("--since " + std::string(e.what()));
    }
  }
  filter.min_level = a.level;
  // From a bucket, only the blocks the backup takes are downloaded.
  BucketSession session;
  auto source = session.localize({a.source}, [&](const remote::BucketBlock& b) {
    return archive::backup_takes(b.meta, remote::last_component(b.prefix), b.deletion_marked,
                                 filter);
  })[0];
  auto blocks = archive::select_backup_blocks(source, filter);
  archive::FdSink out(STDOUT_FILENO, "stdout");
  // The archive goes to stdout; the progress line, like every log line, to
  // stderr, and only when that is a terminal.
  Progress progress("backing up blocks", blocks.size());
  auto notice = [&](const std::string& msg) {
    progress.clear();
    log_info(msg);
  };
  auto r =
      archive::write_backup(blocks, out, a.zstd_level, notice,
                            [&](size_t done, uint64_t bytes) { progress.update(done, bytes); });
  progress.finish();
  record_backup(r);
  log_info("backed up " + std::to_string(r.blocks) + " blocks: " + std::to_string(r.file_bytes) +
           " bytes of block files, " + std::to_string(r.compressed_bytes) + " bytes written");
  if (r.failed > 0) {
    log_error(std::to_string(r.failed) + " incomplete blocks left out");
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

void register_backup(CLI::App& app, Runner& run) {
  auto a = std::make_shared<BackupArgs>();
  auto* cmd = app.add_subcommand(
      "backup", "Write the complete blocks of SOURCE to stdout as a zstd-compressed tar");
  cmd->add_option("SOURCE", a->source,
                  "Prometheus data dir, Thanos bucket dir, block dir, or bucket:[PATH]")
      ->required();
  cmd->add_option("--since", a->since,
                  "Only blocks with a ULID greater than this ULID, or (a time) with maxTime after "
                  "it");
  cmd->add_option("--level", a->zstd_level, "zstd compression level, 1-19 (default 3)")
      ->check(CLI::Range(archive::ZstdWriter::kMinLevel, archive::ZstdWriter::kMaxLevel));
  cmd->add_option("--min-compaction-level", a->level, "Only blocks of compaction level N or higher")
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "Deletion-marked blocks and temporary directories are never backed up. Refuses to write "
      "to a terminal (exit 2).\nExit status: 0 ok, 1 failed, 2 bad usage. See "
      "promblock-backup(1).\n");
  cmd->callback([a, &run] { run = [a] { return run_backup(*a); }; });
}

}  // namespace promblock::tools
