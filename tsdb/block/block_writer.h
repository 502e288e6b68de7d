#pragma once
// Writes one new block into <parent>/<ULID>.tmp-for-creation and, on
// commit(), fsyncs everything and renames it to <parent>/<ULID>. A writer
// destroyed before commit() removes its temporary directory, so a failed
// run leaves no partial block behind.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "index/index_writer.h"
#include "tsdb/block/meta.h"
#include "tsdb/chunks/segment_writer.h"
#include "tsdb/model/labels.h"

namespace promblock {

// One encoded chunk on its way into the block.
struct ChunkData {
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint8_t encoding = 0;
  std::span<const uint8_t> data;  // without the encoding byte
  uint32_t num_samples = 0;
  // CRC32-C of the encoding byte and data, where known already (a chunk
  // copied as read, or encoded on a merge's worker thread), so that the
  // writing thread does not compute it again.
  std::optional<uint32_t> crc;
};

class BlockWriter {
 public:
  // `meta` supplies everything but ulid (generated when empty) and stats
  // (counted while writing).
  BlockWriter(const std::string& parent_dir, BlockMeta meta);
  ~BlockWriter();
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // All symbols, in strictly increasing order, before any series.
  void add_symbol(std::string_view symbol);
  // Series in strictly increasing label order, chunks in time order.
  void add_series(const Labels& labels, std::span<const ChunkData> chunks);
  // Finishes the block and publishes it; returns its final directory.
  std::string commit();

  const std::string& ulid() const { return meta_.ulid; }
  const BlockStats& stats() const { return meta_.stats; }
  // Name a temporary directory for a block gets; used to clean up leftovers.
  static constexpr std::string_view kTmpSuffix = ".tmp-for-creation";

 private:
  nlohmann::ordered_json thanos_files() const;

  std::string parent_;
  std::string tmp_dir_;
  BlockMeta meta_;
  std::unique_ptr<chunks::ChunkWriter> chunk_writer_;
  std::unique_ptr<index::IndexWriter> index_writer_;
  std::vector<index::ChunkMeta> metas_scratch_;
  bool committed_ = false;
};

}  // namespace promblock
