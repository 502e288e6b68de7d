#include "tsdb/chunks/segment_reader.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/message_format.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/chunks/segment_format.h"

namespace promblock::chunks {

namespace {

namespace fs = std::filesystem;

// Segment files are named by a decimal sequence number; anything else in the
// directory is not ours to judge (Prometheus skips it too).
bool parse_sequence(const std::string& name, uint64_t& seq) {
  if (name.empty() || name.size() > 18) return false;
  seq = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    seq = seq * 10 + uint64_t(c - '0');
  }
  return true;
}

void check_header(const MappedFile& f) {
  if (f.size() < kSegmentHeaderSize) {
    fail(f.path(), "chunk segment of " + std::to_string(f.size()) +
                       " bytes is shorter than its 8-byte header");
  }
  // Read, not touched through the mapping: that would map the folio around
  // the header (a whole large one on Linux 6.18), to be released again with
  // an madvise, for each input of a merge of hundreds.
  uint8_t b[kSegmentHeaderSize];
  f.read(0, b);
  uint32_t magic = enc::load_be32(b);
  if (magic != kSegmentMagic) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "wrong magic 0x%08" PRIX32 " (want 0x%08" PRIX32 ")", magic,
                  kSegmentMagic);
    fail(f.path(), buf);
  }
  if (b[4] != kSegmentVersion) {
    fail(f.path(), "unsupported chunk segment version " + std::to_string(b[4]));
  }
}

[[noreturn]] void fail_chunk(const MappedFile& seg, uint64_t ref, const std::string& what) {
  fail(seg.path(), "chunk ref " + hex64(ref), what);
}

}  // namespace

ChunkReader::ChunkReader(const std::string& chunks_dir) : dir_(chunks_dir) {
  std::error_code ec;
  std::vector<uint64_t> seqs;
  for (fs::directory_iterator it(chunks_dir, ec), end; !ec && it != end; it.increment(ec)) {
    uint64_t seq;
    if (parse_sequence(it->path().filename().string(), seq)) seqs.push_back(seq);
  }
  if (ec) fail(chunks_dir, "cannot list chunk segments: " + ec.message());
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != i + 1) {
      fail(chunks_dir, "chunk segments are not numbered 000001, 000002, ... without gaps: " +
                           segment_file_name(i) + " is missing");
    }
  }
  segments_.reserve(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    segments_.emplace_back((fs::path(chunks_dir) / segment_file_name(i)).string());
    check_header(segments_.back());
  }
  released_.assign(segments_.size(), 0);
}

void ChunkReader::release_before(uint64_t ref) const {
  constexpr size_t kStep = 64 * 1024;  // fewer madvise calls; a merge may read many blocks
  size_t seg = size_t(ref_segment_index(ref));
  if (seg < segments_.size())
    segments_[seg].release_behind(released_[seg], size_t(ref_offset(ref)), kStep);
}

uint64_t ChunkReader::total_size() const {
  uint64_t total = 0;
  for (const auto& s : segments_) total += s.size();
  return total;
}

ChunkReader::Chunk ChunkReader::chunk(uint64_t ref) const {
  uint64_t index = ref_segment_index(ref);
  uint64_t offset = ref_offset(ref);
  if (index >= segments_.size()) {
    // Name the missing file itself: that is what a user goes looking for.
    fail(dir_ + "/" + segment_file_name(index),
         "chunk ref " + hex64(ref) + ": segment file does not exist (" +
             std::to_string(segments_.size()) + " segments)");
  }
  const MappedFile& seg = segments_[index];
  auto bytes = seg.bytes();
  if (offset < kSegmentHeaderSize || offset >= bytes.size()) {
    fail_chunk(seg, ref,
               "offset " + std::to_string(offset) + " is outside the segment's chunks (file size " +
                   std::to_string(bytes.size()) + ")");
  }
  return *parse(seg, ref, bytes.subspan(offset));
}

ChunkReader::Chunk ChunkReader::chunk(uint64_t ref, const Window& window) const {
  uint64_t offset = ref_offset(ref);
  if (ref_segment_index(ref) == window.segment && window.segment < segments_.size() &&
      offset >= kSegmentHeaderSize && offset >= window.begin &&
      offset - window.begin < window.bytes.size()) {
    auto rest = std::span<const uint8_t>(window.bytes).subspan(offset - window.begin);
    if (auto c = parse(segments_[window.segment], ref, rest)) return *c;
  }
  return chunk(ref);
}

ChunkReader::Chunk ChunkReader::chunk(uint64_t ref, std::span<const Window> windows) const {
  const size_t segment = size_t(ref_segment_index(ref));
  for (const Window& w : windows)
    if (w.segment == segment) return chunk(ref, w);
  return chunk(ref);
}

void ChunkReader::read_window(size_t segment, uint64_t begin, uint64_t end, Window& out) const {
  const MappedFile& seg = segments_.at(segment);
  end = std::min<uint64_t>(end, seg.size());
  begin = std::min(begin, end);
  out.segment = segment;
  out.begin = begin;
  const size_t size = end - begin;
  if (size > out.bytes.capacity()) {
    // Grown without copying the old bytes (the read replaces them), and
    // freed first so that the allocator can reuse their memory.
    const size_t capacity = std::max(size, 2 * out.bytes.capacity());
    out.bytes = {};
    out.bytes.reserve(capacity);
  }
  out.bytes.resize(size);
  seg.read(begin, out.bytes);
}

std::optional<ChunkReader::Chunk> ChunkReader::parse(const MappedFile& seg, uint64_t ref,
                                                     std::span<const uint8_t> rest) const {
  bool to_file_end = ref_offset(ref) + rest.size() >= seg.size();
  enc::Decbuf d(rest);
  uint64_t len = d.uvarint();
  if (!d.ok()) {
    if (!to_file_end) return std::nullopt;
    fail_chunk(seg, ref, "bad chunk length: " + d.err());
  }
  if (len > d.remaining() || d.remaining() - len < 1 + kChunkCrcSize) {
    if (!to_file_end) return std::nullopt;
    fail_chunk(seg, ref,
               "chunk of " + std::to_string(len) + " bytes runs past the end of the segment");
  }
  const uint8_t* start = d.pos();  // encoding byte, then data
  uint8_t encoding = d.byte();
  auto data = d.bytes(len);
  uint32_t want = d.be32();
  uint32_t got = enc::crc32c(start, 1 + len);
  if (!enc::checksum_ok(got, want)) {
    char buf[80];
    std::snprintf(buf, sizeof buf,
                  "checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")", want, got);
    fail_chunk(seg, ref, buf);
  }
  if (!chunkenc::is_known_encoding(encoding)) {
    fail_chunk(seg, ref, "unsupported chunk encoding " + std::to_string(encoding));
  }
  return Chunk{encoding, data, want};
}

}  // namespace promblock::chunks
