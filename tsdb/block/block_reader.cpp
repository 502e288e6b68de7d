#include "tsdb/block/block_reader.h"

#include <utility>

namespace promblock {

BlockReader::BlockReader(const std::string& dir) : BlockReader(dir, read_meta(dir)) {}

BlockReader::BlockReader(const std::string& dir, BlockMeta meta)
    : dir_(dir),
      meta_(std::move(meta)),
      index_(std::make_unique<index::IndexReader>(dir + "/index")),
      chunks_(std::make_unique<chunks::ChunkReader>(dir + "/chunks")),
      tombstones_(read_tombstones(dir + "/tombstones")) {}

}  // namespace promblock
