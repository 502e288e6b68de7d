#include "tsdb/merge/chunk_bytes.h"

#include <algorithm>

namespace promblock::merge {

uint8_t* ChunkBytes::reserve(size_t size) {
  constexpr size_t kBlockSize = 64 * 1024;
  if (block_ < blocks_.size() && used_ + size > blocks_[block_].size) ++block_, used_ = 0;
  if (block_ == blocks_.size() || blocks_[block_].size < size) {
    // A new block, or one too small for this request while still empty.
    size_t n = std::max(kBlockSize, size);
    Block b{std::unique_ptr<uint8_t[]>(new uint8_t[n]), n};
    if (block_ == blocks_.size())
      blocks_.push_back(std::move(b));
    else
      blocks_[block_] = std::move(b);
  }
  return blocks_[block_].bytes.get() + used_;
}

std::span<const uint8_t> ChunkBytes::take(size_t size) {
  const uint8_t* at = blocks_[block_].bytes.get() + used_;
  used_ += size;
  return {at, size};
}

}  // namespace promblock::merge
