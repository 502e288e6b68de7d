#pragma once
// What each command adds to the run's metrics (tools/run_metrics.h) from
// the results the library hands back; names and meanings in promblock(1),
// METRICS.
#include <cstdint>
#include <string>

#include "tsdb/archive/backup.h"
#include "tsdb/archive/restore.h"
#include "tsdb/compact/compactor.h"
#include "tsdb/merge/block_merger.h"
#include "tsdb/rewrite/rewrite.h"
#include "tsdb/verify/report.h"

namespace promblock::tools {

// `dir` is where the new block was written (local), for its size.
void record_merge(const merge::MergeResult& r, const std::string& dir);
void record_rewrite(const rewrite::RewriteResult& r, const std::string& dir);

// The shard this compaction takes ("I-of-N"); unsharded runs stay "all".
void record_compact_shard(const compact::CompactOptions& o);
// One finished job; its block, if any, is in `out_dir`.
void record_compact_job(const compact::JobReport& r, const std::string& out_dir);
void record_compact(const compact::CompactSummary& s);

void record_verify_problem(const verify::Problem& p);
void record_verify_blocks(uint64_t checked);

void record_backup(const archive::BackupResult& r);
void record_restore(const archive::RestoreResult& r);

}  // namespace promblock::tools
