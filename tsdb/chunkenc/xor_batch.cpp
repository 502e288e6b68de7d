#include "tsdb/chunkenc/xor_batch.h"

#include "tsdb/chunkenc/xor.h"

namespace promblock::chunkenc {

std::string xor_chunk_error(std::span<const uint8_t> chunk) {
  XorIterator it(chunk);
  while (it.next()) {
  }
  // The batch decoder and the iterator find the same faults; this is only
  // reached if they ever disagree.
  return it.err().empty() ? "malformed XOR chunk" : it.err();
}

}  // namespace promblock::chunkenc
