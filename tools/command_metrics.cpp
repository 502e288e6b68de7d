#include "tools/command_metrics.h"

#include <cstdio>

#include "tools/run_metrics.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"
#include "tsdb/compact/sharding.h"

namespace promblock::tools {

namespace {

void add_written_bytes(uint64_t bytes) {
  run_metrics().add("promblock_written_bytes",
                    "Bytes the last run wrote: block files, or the compressed archive of backup",
                    double(bytes));
}

void set_input_blocks(uint64_t n) {
  run_metrics().set("promblock_input_blocks", "Blocks the last run read", double(n));
}

void set_output_blocks(uint64_t n) {
  run_metrics().set("promblock_output_blocks", "Blocks the last run wrote", double(n));
}

// Merge, rewrite and each compaction job count the same things about the
// data they pass on; a compaction's jobs add up.
template <class Result>
void add_data(const Result& r) {
  auto& m = run_metrics();
  m.add("promblock_input_series", "Series the last run read", double(r.series_in));
  m.add("promblock_output_series", "Series the last run wrote", double(r.series_out));
  m.add("promblock_input_samples", "Samples the last run read", double(r.samples_in));
  m.add("promblock_output_samples", "Samples the last run wrote", double(r.samples_out));
  m.add("promblock_input_chunks", "Chunks the last run read", double(r.chunks_in));
  m.add("promblock_output_chunks", "Chunks the last run wrote", double(r.chunks_out));
  m.add("promblock_copied_chunks", "Output chunks copied byte for byte from an input",
        double(r.chunks_copied));
  m.add("promblock_reencoded_chunks", "Output chunks decoded, merged and encoded anew",
        double(r.chunks_reencoded));
}

void add_dedup_removed(const merge::MergeResult& r) {
  run_metrics().add("promblock_dedup_removed_samples",
                    "Input samples the last run's deduplication left out (copies of others)",
                    double(r.samples_in - std::min(r.samples_in, r.samples_out)));
}

// Merges and compaction jobs whose output shares the chunk segments of
// inputs (hard links) say how many chunks stayed where they were.
void add_linked(const merge::MergeResult& r) {
  run_metrics().add("promblock_linked_chunks",
                    "Output chunks left in input segments that the output shares (hard links) "
                    "instead of written again; counted among the copied",
                    double(r.chunks_linked));
}

}  // namespace

void record_merge(const merge::MergeResult& r, const std::string& dir) {
  add_data(r);
  set_input_blocks(r.inputs.size());
  set_output_blocks(1);
  add_dedup_removed(r);
  add_linked(r);
  add_written_bytes(fsutil::tree_bytes(dir));
}

void record_rewrite(const rewrite::RewriteResult& r, const std::string& dir) {
  add_data(r);
  set_input_blocks(1);
  set_output_blocks(r.written ? 1 : 0);
  add_written_bytes(r.written ? fsutil::tree_bytes(dir) : 0);
}

void record_compact_shard(const compact::CompactOptions& o) {
  if (o.shard)
    run_metrics().set_shard(std::to_string(o.shard->index) + "-of-" +
                            std::to_string(o.shard->count));
}

void record_compact_job(const compact::JobReport& r, const std::string& out_dir) {
  uint64_t inputs = 0;  // blocks read, not the outputs of earlier jobs of this run
  for (const auto& in : r.inputs) inputs += is_ulid(in);
  run_metrics().add("promblock_input_blocks", "Blocks the last run read", double(inputs));
  if (!r.output.empty()) {
    add_written_bytes(fsutil::tree_bytes(out_dir + "/" + r.output));
    add_data(r.merged);
    add_dedup_removed(r.merged);
    add_linked(r.merged);
  }
  // Groups are few (one per external label set): which one fails is worth
  // a label. Its hash is the one --shard divides by.
  char group[17];
  std::snprintf(group, sizeof group, "%016llx",
                static_cast<unsigned long long>(compact::group_hash(r.group)));
  const char* state = !r.error.empty() ? "failed" : r.output.empty() ? "planned" : "done";
  run_metrics().add("promblock_compaction_group_jobs",
                    "Compaction jobs of the last run by group (hash of its labels, as --shard "
                    "takes it) and state (planned in a dry run, done, failed)",
                    1, {{"group", group}, {"state", state}});
}

void record_compact(const compact::CompactSummary& s) {
  auto& m = run_metrics();
  const std::string jobs_help = "Compaction jobs of the last run, by state (planned, done, failed)";
  m.set("promblock_compaction_jobs", jobs_help, double(s.jobs_planned), {{"state", "planned"}});
  m.set("promblock_compaction_jobs", jobs_help, double(s.jobs_done), {{"state", "done"}});
  m.set("promblock_compaction_jobs", jobs_help, double(s.jobs_failed), {{"state", "failed"}});
  m.set("promblock_compaction_locked_groups",
        "Groups the last run left alone because another process held their lock",
        double(s.groups_locked));
  m.set("promblock_deletion_marked_blocks", "Blocks the last run marked for deletion",
        double(s.blocks_marked));
  m.set("promblock_deleted_blocks", "Blocks the last run deleted (marked long enough ago)",
        double(s.blocks_deleted));
  set_output_blocks(s.blocks_written);
  add_data(merge::MergeResult{});  // present, at 0, when no job ran
  add_dedup_removed(merge::MergeResult{});
  add_linked(merge::MergeResult{});
  if (!m.has("promblock_input_blocks")) set_input_blocks(0);
  if (!m.has("promblock_written_bytes")) add_written_bytes(0);
}

void record_verify_problem(const verify::Problem& p) {
  run_metrics().add("promblock_verify_problems",
                    "Problems the last verify found, by kind and severity (error, warning)",
                    double(p.count),
                    {{"kind", p.kind},
                     {"severity", p.severity == verify::Severity::kError ? "error" : "warning"}});
}

void record_verify_blocks(uint64_t checked) {
  run_metrics().set("promblock_verify_checked_blocks", "Blocks the last verify checked",
                    double(checked));
}

void record_backup(const archive::BackupResult& r) {
  auto& m = run_metrics();
  m.set("promblock_backup_blocks", "Blocks the last backup wrote into its archive",
        double(r.blocks));
  m.set("promblock_backup_incomplete_blocks",
        "Blocks the last backup left out because they were incomplete", double(r.failed));
  m.set("promblock_backup_block_bytes", "Bytes of the block files the last backup archived",
        double(r.file_bytes));
  add_written_bytes(r.compressed_bytes);
}

void record_restore(const archive::RestoreResult& r) {
  auto& m = run_metrics();
  const std::string help = "Blocks of the last restore's archive, by outcome";
  m.set("promblock_restore_blocks", help, double(r.installed.size()), {{"outcome", "installed"}});
  m.set("promblock_restore_blocks", help, double(r.skipped.size()), {{"outcome", "skipped"}});
  m.set("promblock_restore_blocks", help, double(r.refused), {{"outcome", "refused"}});
  add_written_bytes(r.bytes);
}

}  // namespace promblock::tools
