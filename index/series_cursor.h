#pragma once
// Reads an index's series entries in ascending ref order, as a merge does,
// through a buffer filled with pread instead of through the mapping. A
// mapping's pages stay resident until released, and a kernel that maps a
// whole large folio on a fault maps pages back that were just released
// (Linux 6.18 does): a pass over many indexes would keep a folio or more
// of each resident. The buffer is all this reader keeps.
#include <cstdint>
#include <vector>

#include "index/index_reader.h"

namespace promblock::index {

class SeriesCursor {
 public:
  explicit SeriesCursor(const IndexReader& index) : index_(index) {}

  // IndexReader::series(), for refs in ascending order (any order works;
  // a step back reads the buffer again).
  void series(uint32_t ref, Labels& labels, std::vector<ChunkMeta>& chunks);

 private:
  // Makes the buffer start at `offset` and hold at least `need` bytes (or
  // all up to the section's end).
  void fill(uint64_t offset, uint64_t need);

  const IndexReader& index_;
  std::vector<uint8_t> buffer_;
  uint64_t begin_ = 0;  // file offset of buffer_[0]
};

}  // namespace promblock::index
