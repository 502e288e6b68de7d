#pragma once
// A sample on its way through a merge, remembering which input chunk it came
// from so that a chunk whose samples all survive unchanged can be copied
// byte for byte instead of re-encoded.
#include <cstdint>
#include <vector>

namespace promblock::merge {

struct TaggedSample {
  int64_t t;
  uint64_t v_bits;    // values travel as bits: stale markers and NaN payloads stay exact
  uint32_t chunk;     // index of the source chunk within the series being merged
  uint32_t position;  // index of the sample within that chunk
};

using SampleRun = std::vector<TaggedSample>;

}  // namespace promblock::merge
