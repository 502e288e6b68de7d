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
#include <vector>

#include "index/index_writer.h"
#include "tsdb/base/encoding.h"
#include "tsdb/block/meta.h"
#include "tsdb/chunks/segment_writer.h"
#include "tsdb/model/labels.h"

namespace promblock {

namespace chunks {
class ChunkReader;
}

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
  // Where a chunk copied unchanged lies in an input block: a writer that
  // linked that block's segments (link_chunks_of) refers to it there.
  const chunks::ChunkReader* origin = nullptr;
  uint64_t origin_ref = 0;
  // Not read at all (encoding, data and num_samples unknown): a chunk of a
  // linked block, which only a linked segment can hold. Its samples are
  // counted with add_unread_samples.
  bool unread = false;
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
  // Before any series: hard-links the chunk segments of an input block
  // (`reader` reads them) into the new block, so that chunks whose origin
  // is that block are referred to where they lie, not written again. The
  // caller links only blocks whose chunks all go into this one unchanged,
  // or the new block carries dead bytes. False where the file system cannot
  // link them (those chunks are then written as usual).
  bool link_chunks_of(const chunks::ChunkReader& reader);
  // Series in strictly increasing label order, chunks in time order.
  void add_series(const Labels& labels, std::span<const ChunkData> chunks);
  // Chunks of one input block that lie in its linked segments, by their
  // metas in that block's index.
  struct LinkedChunks {
    const chunks::ChunkReader* origin;
    std::span<const index::ChunkMeta> metas;
  };
  // As add_series, for a series whose chunks all lie in linked segments
  // and go in unread, by their metas alone (in time order across parts),
  // in two steps: the chunk part of the series' index entry, which only
  // reads what link_chunks_of recorded (merge workers encode it while
  // series are added), then the series with it.
  struct InPlaceChunks {
    enc::Encbuf entry_part;  // index::encode_chunk_metas
    uint64_t count = 0;
  };
  void encode_in_place(std::span<const LinkedChunks> parts, InPlaceChunks& out,
                       std::vector<index::ChunkMeta>& scratch) const;
  void add_series_in_place(const Labels& labels, const InPlaceChunks& chunks);
  // Counts the samples of chunks added unread, from their block's stats.
  void add_unread_samples(uint64_t floats, uint64_t histograms);
  // Finishes the block and publishes it; returns its final directory.
  std::string commit();

  const std::string& ulid() const { return meta_.ulid; }
  const BlockStats& stats() const { return meta_.stats; }
  uint64_t segments_linked() const;
  uint64_t chunks_linked() const { return chunks_linked_; }
  // Name a temporary directory for a block gets; used to clean up leftovers.
  static constexpr std::string_view kTmpSuffix = ".tmp-for-creation";

 private:
  nlohmann::ordered_json thanos_files() const;
  // Segments [first, first + count) of the new block are links to the
  // segments of the block `reader` reads.
  struct LinkedBlock {
    const chunks::ChunkReader* reader;
    uint64_t first, count;
  };
  const LinkedBlock* linked_block(const chunks::ChunkReader* reader) const;
  // The ref in the new block of chunk `ref` of block `b`, or nullopt
  // where b (null: not linked) has no linked segment for it.
  static std::optional<uint64_t> linked_ref(const LinkedBlock* b, uint64_t ref);
  std::vector<LinkedBlock> linked_;
  uint64_t chunks_linked_ = 0;

  std::string parent_;
  std::string tmp_dir_;
  BlockMeta meta_;
  std::unique_ptr<chunks::ChunkWriter> chunk_writer_;
  std::unique_ptr<index::IndexWriter> index_writer_;
  std::vector<index::ChunkMeta> metas_scratch_;
  bool committed_ = false;
};

}  // namespace promblock
