// promblock restore: installs the blocks of a backup stream in a directory,
// each checked and renamed into place (see tsdb/archive/restore.h).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "tools/bucket_args.h"
#include "tools/command.h"
#include "tools/command_metrics.h"
#include "tools/log.h"
#include "tsdb/archive/byte_stream.h"
#include "tsdb/archive/restore.h"
#include "tsdb/base/error.h"
#include "tsdb/base/usage_error.h"
#include "tsdb/remote/block_transfer.h"

namespace promblock::tools {

namespace {

struct RestoreArgs {
  std::string into;
  std::string file = "-";
};

// A bucket as restore's destination: blocks it has (complete or partly
// uploaded) are skipped, as restore never overwrites; each block checked
// in scratch is uploaded (meta.json last) and removed from scratch.
archive::RestoreDestination bucket_destination(BucketSession& session, const std::string& arg) {
  auto present = std::make_shared<std::set<std::string>>();
  auto listing = session.list(arg);
  for (const auto& b : listing.blocks) present->insert(remote::last_component(b.prefix));
  for (const auto& p : listing.partials) present->insert(p.ulid);
  archive::RestoreDestination d;
  d.name = session.bucket().describe_object(bucket_root(arg));
  d.present = [present](const std::string& ulid) { return present->count(ulid) > 0; };
  d.deliver = [&session, arg](const std::string& block_dir) {
    remote::upload_block(session.bucket(), block_dir, bucket_root(arg));
    std::error_code ec;
    std::filesystem::remove_all(block_dir, ec);  // scratch: one block at a time
  };
  return d;
}

int run_restore(const RestoreArgs& a) {
  int fd = STDIN_FILENO;
  std::string name = "stdin";
  if (a.file != "-") {
    fd = ::open(a.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno(a.file, "cannot open");
    name = a.file;
  } else if (::isatty(STDIN_FILENO)) {
    throw UsageError(
        "restore reads the archive from stdin, and stdin is a terminal; give FILE "
        "or redirect stdin (promblock restore --into DIR < FILE.tar.zst)");
  }
  struct FdCloser {
    int fd;
    ~FdCloser() {
      if (fd != STDIN_FILENO) ::close(fd);
    }
  } closer{fd};
  archive::FdSource in(fd, name);
  // A stream has no known total: the line counts blocks and bytes read.
  Progress progress("restoring blocks", Progress::kUnknownTotal);
  auto notice = [&](const std::string& msg) {
    progress.clear();
    log_info(msg);
  };
  // Into a bucket: each block is checked and installed in a scratch
  // directory, then uploaded, meta.json last.
  BucketSession session;
  std::optional<archive::RestoreDestination> bucket;
  if (is_bucket_arg(a.into)) bucket = bucket_destination(session, a.into);
  std::string into = bucket ? session.scratch_subdir("restore") : a.into;
  auto r = archive::restore_backup(
      in, name, into, notice, [&](size_t done, uint64_t bytes) { progress.update(done, bytes); },
      bucket ? &*bucket : nullptr);
  progress.finish();
  record_restore(r);
  if (!r.damage.empty()) log_error(r.damage);
  log_info("restored " + std::to_string(r.installed.size()) + " blocks (" +
           std::to_string(r.bytes) + " bytes) into " + a.into + "; " +
           std::to_string(r.skipped.size()) + " skipped (already present), " +
           std::to_string(r.refused) + " refused");
  return r.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void register_restore(CLI::App& app, Runner& run) {
  auto a = std::make_shared<RestoreArgs>();
  auto* cmd = app.add_subcommand(
      "restore", "Check the blocks of a backup stream and install them atomically in --into");
  cmd->add_option("--into", a->into,
                  "Directory to install the blocks in (created if needed), or bucket:[PATH]")
      ->required();
  cmd->add_option("FILE", a->file, "The backup (.tar.zst); stdin when absent or \"-\"");
  cmd->footer(
      "Blocks already in DIR are skipped, never overwritten. Entries other than <ULID>/<block "
      "file> (absolute paths, \"..\", links, devices, unknown names) are refused with their "
      "block. A damaged stream keeps the blocks before the damage.\nExit status: 0 ok, 1 "
      "something refused, the stream damaged or DIR not writable (disk full), 2 bad usage, 75 DIR "
      "locked by another "
      "promblock. See promblock-restore(1).\n");
  cmd->callback([a, &run] { run = [a] { return run_restore(*a); }; });
}

}  // namespace promblock::tools
