#include "tsdb/chunks/segment_writer.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace promblock::chunks {

namespace {

// Large enough that a segment costs few write(2) calls (a few hundred for
// a 76 MB one), small enough that its pages, touched once each, cost little.
constexpr size_t kBufferSize = size_t(256) << 10;

}  // namespace

ChunkWriter::ChunkWriter(const std::string& chunks_dir, uint64_t max_segment_size)
    : dir_(chunks_dir), max_segment_size_(max_segment_size) {
  // Offsets in chunk refs have 32 bits.
  if (max_segment_size_ > (uint64_t(1) << 32)) {
    fail(chunks_dir,
         "chunk segment size cap " + std::to_string(max_segment_size_) + " exceeds 4 GiB");
  }
  fsutil::make_dirs(chunks_dir);
}

uint64_t ChunkWriter::write(uint8_t encoding, std::span<const uint8_t> data,
                            std::optional<uint32_t> crc) {
  if (closed_) fail(dir_, "chunk written after the chunk writer was closed");
  // Prometheus's rule: a segment that already holds chunks is cut when the
  // chunk, sized with the longest possible length field, would not fit.
  uint64_t max_chunk_size = kMaxChunkLengthFieldSize + 1 + data.size() + kChunkCrcSize;
  if (!segment_ || (segment_->pos() > kSegmentHeaderSize &&
                    segment_->pos() + max_chunk_size > max_segment_size_)) {
    start_segment();
  }
  uint64_t offset = segment_->pos();
  if (offset > 0xffffffffu) {
    fail(segment_->path(), "chunk offset " + std::to_string(offset) + " does not fit a chunk ref");
  }
  uint64_t ref = make_chunk_ref(segments_ - 1, offset);

  uint8_t head[11];  // uvarint length (<= 10 bytes) + encoding
  size_t n = 0;
  for (uint64_t len = data.size();; len >>= 7) {
    if (len < 0x80) {
      head[n++] = uint8_t(len);
      break;
    }
    head[n++] = uint8_t(len) | 0x80;
  }
  head[n++] = encoding;
  uint8_t crc_bytes[4];
  enc::store_be32(crc_bytes, crc ? *crc : chunk_crc(encoding, data));

  segment_->write(std::span<const uint8_t>(head, n));
  segment_->write(data);
  segment_->write(crc_bytes);
  return ref;
}

std::optional<uint64_t> ChunkWriter::link_segment(const std::string& path) {
  if (closed_ || segment_) fail(dir_, "segment linked after chunks were written");
  std::string to = (std::filesystem::path(dir_) / segment_file_name(segments_)).string();
  if (::link(path.c_str(), to.c_str()) != 0) {
    // Another file system, or one without hard links: the caller copies.
    if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP ||
        errno == EOPNOTSUPP)
      return std::nullopt;
    fail_errno(to, "cannot link chunk segment " + path);
  }
  linked_.push_back(std::move(to));
  return segments_++;
}

void ChunkWriter::start_segment() {
  finish_segment();
  std::string path = (std::filesystem::path(dir_) / segment_file_name(segments_)).string();
  segment_ = std::make_unique<FileWriter>(std::move(path), kBufferSize, 0666, "chunk segment");
  // Read again, if at all, by a later run: a compaction level links them.
  segment_->set_drop_behind();
  ++segments_;
  uint8_t header[kSegmentHeaderSize] = {};
  enc::store_be32(header, kSegmentMagic);
  header[4] = kSegmentVersion;
  segment_->write(header);
}

void ChunkWriter::finish_segment() {
  if (!segment_) return;
  // Kept open for the fsync at close(), without its buffer.
  segment_->finish_writing();
  full_.push_back(std::move(segment_));
  // Bounded open files: beyond a few, the oldest is fsynced now (by then
  // it has long been written back).
  constexpr size_t kMaxPending = 8;
  if (full_.size() > kMaxPending) {
    full_.front()->close();
    full_.erase(full_.begin());
  }
}

void ChunkWriter::close() {
  if (closed_) return;
  finish_segment();
  for (auto& s : full_) s->close();  // flushes and fsyncs
  full_.clear();
  // Their block had them synced; cheap then, and certain.
  for (const auto& path : linked_) fsutil::fsync_path(path);
  fsutil::fsync_dir(dir_);
  closed_ = true;
}

}  // namespace promblock::chunks
