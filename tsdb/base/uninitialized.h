#pragma once
// An allocator whose value-initialisation leaves trivial elements as they
// are: for buffers that are written in full right after growing (decoded
// samples, bytes read from a file), where zeroing them first showed in
// profiles.
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace promblock {

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

template <class T>
using UninitializedVector = std::vector<T, UninitializedAllocator<T>>;

}  // namespace promblock
