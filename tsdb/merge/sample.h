#pragma once
// A sample on its way through a merge, remembering which input chunk it came
// from so that a chunk whose samples all survive unchanged can be copied
// byte for byte instead of re-encoded.
#include <cstdint>

#include "tsdb/base/uninitialized.h"

namespace promblock::merge {

struct TaggedSample {
  int64_t t;
  uint64_t v_bits;    // values travel as bits: stale markers and NaN payloads stay exact
  uint32_t chunk;     // index of the source chunk within the series being merged
  uint32_t position;  // index of the sample within that chunk
};

// Growing a run leaves the new samples uninitialised: the decoder writes
// every one of them next.
using SampleRun = UninitializedVector<TaggedSample>;

// A float sample without its origin: where a region's chunks are all XOR
// floats (no histograms, no start timestamps, no tombstones), a chain
// merge finds its whole chunks from their time ranges instead of from
// tags, and moves two thirds of the bytes.
struct FloatSample {
  int64_t t;
  uint64_t v_bits;
};
using FloatRun = UninitializedVector<FloatSample>;

}  // namespace promblock::merge
