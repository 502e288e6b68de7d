#pragma once
// Where re-encoded chunks' bytes live until written: blocks that never move
// (the output's ChunkData spans point into them), kept for reuse when
// cleared. A merge's batch owns one, so that the merger filling it, with
// all its scratch, can go on to the next batch on its thread while the
// batch waits to be written.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace promblock::merge {

class ChunkBytes {
 public:
  // Room for `size` bytes at least, contiguous; take() what was used of it.
  uint8_t* reserve(size_t size);
  // The first `size` bytes of what reserve() gave, kept until clear().
  std::span<const uint8_t> take(size_t size);
  // Every span taken is invalid after this; the blocks stay for reuse.
  void clear() { block_ = 0, used_ = 0; }

 private:
  // Uninitialised: the encoders write every byte they hand out.
  struct Block {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size = 0;
  };
  std::vector<Block> blocks_;
  size_t block_ = 0;  // the block being filled
  size_t used_ = 0;   // bytes used in it
};

}  // namespace promblock::merge
