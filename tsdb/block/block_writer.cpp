#include "tsdb/block/block_writer.h"

#include <algorithm>
#include <filesystem>
#include <future>

#include "index/series_codec.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/message_format.h"
#include "tsdb/base/ulid.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/chunks/segment_reader.h"
#include "tsdb/tombstones/tombstones.h"

namespace promblock {

BlockWriter::BlockWriter(const std::string& parent_dir, BlockMeta meta)
    : parent_(parent_dir), meta_(std::move(meta)) {
  if (meta_.ulid.empty()) meta_.ulid = new_ulid();
  meta_.stats = {};
  tmp_dir_ = parent_ + "/" + meta_.ulid + std::string(kTmpSuffix);
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir_, ec);
  fsutil::make_dirs(tmp_dir_);
  chunk_writer_ = std::make_unique<chunks::ChunkWriter>(tmp_dir_ + "/chunks");
  index_writer_ = std::make_unique<index::IndexWriter>(tmp_dir_ + "/index");
}

BlockWriter::~BlockWriter() {
  if (committed_) return;
  // Close writers before removing their files; errors here are moot.
  chunk_writer_.reset();
  index_writer_.reset();
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir_, ec);
}

void BlockWriter::add_symbol(std::string_view symbol) { index_writer_->add_symbol(symbol); }

bool BlockWriter::link_chunks_of(const chunks::ChunkReader& reader) {
  if (meta_.stats.num_series) fail(tmp_dir_, "chunk segments linked after series were added");
  LinkedBlock block{&reader, 0, 0};
  for (size_t i = 0; i < reader.segment_count(); ++i) {
    auto index = chunk_writer_->link_segment(reader.segment(i).path());
    if (!index) break;
    if (block.count == 0) block.first = *index;
    ++block.count;
  }
  if (block.count) linked_.push_back(block);
  return block.count == reader.segment_count();
}

uint64_t BlockWriter::segments_linked() const {
  uint64_t n = 0;
  for (const auto& b : linked_) n += b.count;
  return n;
}

const BlockWriter::LinkedBlock* BlockWriter::linked_block(const chunks::ChunkReader* reader) const {
  for (const auto& b : linked_)
    if (b.reader == reader) return &b;
  return nullptr;
}

std::optional<uint64_t> BlockWriter::linked_ref(const LinkedBlock* b, uint64_t ref) {
  uint64_t segment = chunks::ref_segment_index(ref);
  if (!b || segment >= b->count) return std::nullopt;
  return chunks::make_chunk_ref(b->first + segment, chunks::ref_offset(ref));
}

void BlockWriter::add_series(const Labels& labels, std::span<const ChunkData> chunks) {
  metas_scratch_.clear();
  for (const auto& c : chunks) {
    auto in_place = c.origin ? linked_ref(linked_block(c.origin), c.origin_ref) : std::nullopt;
    // An unread chunk has no bytes to write: only its linked segment has them.
    if (!in_place && c.unread) fail(tmp_dir_, "chunk " + hex64(c.origin_ref) + " was not read");
    uint64_t ref = in_place ? *in_place : chunk_writer_->write(c.encoding, c.data, c.crc);
    chunks_linked_ += in_place.has_value();
    metas_scratch_.push_back({c.min_time, c.max_time, ref});
    meta_.stats.num_samples += c.num_samples;
    // Split by encoding, as Prometheus 3.6+ counts them.
    if (c.encoding == uint8_t(chunkenc::Encoding::kXOR) ||
        c.encoding == uint8_t(chunkenc::Encoding::kXOR2))
      meta_.stats.num_float_samples += c.num_samples;
    else
      meta_.stats.num_histogram_samples += c.num_samples;
  }
  meta_.stats.num_chunks += chunks.size();
  meta_.stats.num_series += 1;
  index_writer_->add_series(labels, metas_scratch_);
}

void BlockWriter::encode_in_place(std::span<const LinkedChunks> parts, InPlaceChunks& out,
                                  std::vector<index::ChunkMeta>& scratch) const {
  scratch.clear();
  for (const auto& part : parts) {
    const LinkedBlock* b = linked_block(part.origin);
    for (const auto& m : part.metas) {
      auto ref = linked_ref(b, m.ref);
      if (!ref) fail(tmp_dir_, "chunk " + hex64(m.ref) + " was not read");
      scratch.push_back({m.min_time, m.max_time, *ref});
    }
  }
  if (auto bad = index::check_chunk_metas(scratch); !bad.empty()) fail(tmp_dir_, bad);
  out.entry_part.clear();
  index::encode_chunk_metas(out.entry_part, scratch);
  out.count = scratch.size();
}

void BlockWriter::add_series_in_place(const Labels& labels, const InPlaceChunks& chunks) {
  chunks_linked_ += chunks.count;
  meta_.stats.num_chunks += chunks.count;
  meta_.stats.num_series += 1;
  index_writer_->add_series_encoded(labels, chunks.entry_part.bytes());
}

void BlockWriter::add_unread_samples(uint64_t floats, uint64_t histograms) {
  meta_.stats.num_samples += floats + histograms;
  meta_.stats.num_float_samples += floats;
  meta_.stats.num_histogram_samples += histograms;
}

// Thanos lists the block's files with their sizes; meta.json itself
// without one, as Thanos writes it.
nlohmann::ordered_json BlockWriter::thanos_files() const {
  std::vector<std::string> rel;
  for (const auto& e : std::filesystem::directory_iterator(tmp_dir_ + "/chunks"))
    rel.push_back("chunks/" + e.path().filename().string());
  std::sort(rel.begin(), rel.end());
  rel.push_back("index");
  auto files = nlohmann::ordered_json::array();
  for (const auto& r : rel)
    files.push_back(
        {{"rel_path", r}, {"size_bytes", std::filesystem::file_size(tmp_dir_ + "/" + r)}});
  files.push_back({{"rel_path", "meta.json"}});
  return files;
}

std::string BlockWriter::commit() {
  // The chunks' last bytes go to disk while the index is written, instead
  // of the index waiting for their fsync. The index's fsync, the longest
  // wait of a commit (its last megabyte or so, 4-7 ms on the bench VM),
  // then runs beside the chunks', the tombstones' and meta.json's instead
  // of before them.
  chunk_writer_->finish_writing();
  index_writer_->finish_writing();
  auto index_synced = std::async(std::launch::async, [this] { index_writer_->close(); });
  chunk_writer_->close();
  write_tombstones(tmp_dir_ + "/tombstones", Tombstones{});
  if (meta_.thanos.is_object()) meta_.thanos["files"] = thanos_files();
  fsutil::write_file_synced(tmp_dir_ + "/meta.json", meta_to_json(meta_));
  index_synced.get();
  fsutil::fsync_path(tmp_dir_);
  std::string final_dir = parent_ + "/" + meta_.ulid;
  if (std::filesystem::exists(final_dir)) fail(final_dir, "block already exists");
  fsutil::rename_synced(tmp_dir_, final_dir);
  committed_ = true;
  return final_dir;
}

}  // namespace promblock
