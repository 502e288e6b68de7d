#include "tsdb/block/block_reader.h"

namespace promblock {

BlockReader::BlockReader(const std::string& dir)
    : dir_(dir),
      meta_(read_meta(dir)),
      index_(std::make_unique<index::IndexReader>(dir + "/index")),
      chunks_(std::make_unique<chunks::ChunkReader>(dir + "/chunks")),
      tombstones_(read_tombstones(dir + "/tombstones")) {}

}  // namespace promblock
