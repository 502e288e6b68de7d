#pragma once
// A sample on its way through a merge, remembering which input chunk it came
// from so that a chunk whose samples all survive unchanged can be copied
// byte for byte instead of re-encoded.
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace promblock::merge {

struct TaggedSample {
  int64_t t;
  uint64_t v_bits;    // values travel as bits: stale markers and NaN payloads stay exact
  uint32_t chunk;     // index of the source chunk within the series being merged
  uint32_t position;  // index of the sample within that chunk
};

// Growing a run leaves the new samples uninitialised: the decoder writes
// every one of them next, and zeroing them first showed in profiles.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using SampleRun = std::vector<TaggedSample, UninitializedAllocator<TaggedSample>>;

}  // namespace promblock::merge
