#pragma once
// An open block: its meta.json, index, chunk segments and tombstones, all
// memory-mapped and checked as they are read.
#include <memory>
#include <string>

#include "index/index_reader.h"
#include "tsdb/block/meta.h"
#include "tsdb/chunks/segment_reader.h"
#include "tsdb/tombstones/tombstones.h"

namespace promblock {

class BlockReader {
 public:
  explicit BlockReader(const std::string& dir);
  // For a caller that has read the block's meta.json already (a merge's
  // inputs, found and planned on): it is not read and parsed again.
  BlockReader(const std::string& dir, BlockMeta meta);

  const std::string& dir() const { return dir_; }
  const BlockMeta& meta() const { return meta_; }
  const index::IndexReader& index() const { return *index_; }
  const chunks::ChunkReader& chunks() const { return *chunks_; }
  const Tombstones& tombstones() const { return tombstones_; }

 private:
  std::string dir_;
  BlockMeta meta_;
  std::unique_ptr<index::IndexReader> index_;
  std::unique_ptr<chunks::ChunkReader> chunks_;
  Tombstones tombstones_;
};

}  // namespace promblock
