#pragma once
// The dedup modes, each a merge of time-ordered sample runs of one series
// (see ../shared/DESIGN.md "Deduplication semantics").
//
// Runs are merged per series rather than sample by sample through virtual
// iterators: one series' samples are few (a block's worth), and having them
// together lets the rechunker see which input chunks survived whole.
#include <span>

#include "tsdb/merge/sample.h"

namespace promblock::merge {

// Union of the runs in time order, one sample per timestamp; on equal
// timestamps the run listed first wins. Each run must be time-ordered and
// free of duplicate timestamps.
SampleRun chain_merge(std::span<const SampleRun> runs);
// The same into `out` (replaced), whose memory is reused.
void chain_merge(std::span<const SampleRun> runs, SampleRun& out);
// The same appended to `out` (which must not be one of the runs): the
// samples already in it stay where they are unless it has to grow.
void chain_merge_append(std::span<const SampleRun> runs, SampleRun& out);
// The same for plain float samples.
void chain_merge_append(std::span<const FloatRun> runs, FloatRun& out);

// Thanos's penalty deduplication of two replicas, `a` ordered first:
// follows one replica and switches to the other on gaps, never taking
// samples closer together than the replica's own spacing. See DESIGN.md.
SampleRun penalty_merge(const SampleRun& a, const SampleRun& b);
// The same into `out` (replaced, not `a` or `b`), whose memory is reused.
void penalty_merge(const SampleRun& a, const SampleRun& b, SampleRun& out);

// Folds replicas pairwise in the given order: ((r1 ⊕ r2) ⊕ r3) ...
SampleRun penalty_merge_all(std::span<const SampleRun> replicas);
// The same into `out` (replaced); `scratch` holds, for a third or further
// replica, the part of the fold from that replica's first sample on. Both
// keep their memory for the next call.
void penalty_merge_all(std::span<const SampleRun> replicas, SampleRun& out, SampleRun& scratch);

}  // namespace promblock::merge
