#include "index/series_codec.h"

#include <limits>

namespace promblock::index {

void encode_series_body(enc::Encbuf& out, std::span<const LabelRefs> labels,
                        std::span<const ChunkMeta> chunks) {
  encode_series_labels(out, labels);
  encode_chunk_metas(out, chunks);
}

void encode_series_labels(enc::Encbuf& out, std::span<const LabelRefs> labels) {
  // Two varints per label and the count, each at most kMaxVarintBytes.
  uint8_t* p = out.room(enc::kMaxVarintBytes * (1 + 2 * labels.size()));
  p = enc::write_uvarint(p, labels.size());
  for (const auto& [name, value] : labels) {
    p = enc::write_uvarint(p, name);
    p = enc::write_uvarint(p, value);
  }
  out.end_room(p);
}

void encode_chunk_metas(enc::Encbuf& out, std::span<const ChunkMeta> chunks) {
  // Three varints per chunk and the count, each at most kMaxVarintBytes.
  uint8_t* p = out.room(enc::kMaxVarintBytes * (1 + 3 * chunks.size()));
  p = enc::write_uvarint(p, chunks.size());
  if (!chunks.empty()) {
    // Unsigned arithmetic gives Go's two's-complement wrap-around without
    // signed-overflow UB.
    const ChunkMeta& first = chunks[0];
    p = enc::write_varint(p, first.min_time);
    p = enc::write_uvarint(p, uint64_t(first.max_time) - uint64_t(first.min_time));
    p = enc::write_uvarint(p, first.ref);
    uint64_t prev_max = uint64_t(first.max_time);
    uint64_t prev_ref = first.ref;
    for (const ChunkMeta& c : chunks.subspan(1)) {
      p = enc::write_uvarint(p, uint64_t(c.min_time) - prev_max);
      p = enc::write_uvarint(p, uint64_t(c.max_time) - uint64_t(c.min_time));
      p = enc::write_varint(p, int64_t(c.ref - prev_ref));
      prev_max = uint64_t(c.max_time);
      prev_ref = c.ref;
    }
  }
  out.end_room(p);
}

std::string check_chunk_metas(std::span<const ChunkMeta> chunks) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkMeta& c = chunks[i];
    if (c.max_time < c.min_time)
      return "chunk " + std::to_string(i) + ": max time " + std::to_string(c.max_time) +
             " before min time " + std::to_string(c.min_time);
    if (i > 0 && c.min_time < chunks[i - 1].min_time)
      return "chunk " + std::to_string(i) + ": not sorted by min time (" +
             std::to_string(c.min_time) + " after " + std::to_string(chunks[i - 1].min_time) + ")";
  }
  return {};
}

std::string decode_series_body(std::span<const uint8_t> body, std::vector<LabelRefs>& labels,
                               std::vector<ChunkMeta>& chunks) {
  labels.clear();
  chunks.clear();
  enc::Decbuf d(body);

  // Each label takes at least two bytes and each chunk three, which bounds
  // the counts before anything is reserved: a corrupt count cannot make us
  // allocate more than the entry's size.
  uint64_t label_count = d.uvarint();
  if (!d.ok()) return "label count: " + d.err();
  if (label_count > d.remaining() / 2)
    return "label count " + std::to_string(label_count) + " exceeds entry size";
  labels.reserve(size_t(label_count));
  for (uint64_t i = 0; i < label_count; ++i) {
    uint32_t name = d.uvarint32();
    uint32_t value = d.uvarint32();
    labels.emplace_back(name, value);
  }
  if (!d.ok()) return "labels: " + d.err();

  uint64_t chunk_count = d.uvarint();
  if (!d.ok()) return "chunk count: " + d.err();
  if (chunk_count > d.remaining() / 3)
    return "chunk count " + std::to_string(chunk_count) + " exceeds entry size";
  chunks.reserve(size_t(chunk_count));
  uint64_t prev_max = 0, prev_ref = 0;
  for (uint64_t i = 0; i < chunk_count; ++i) {
    ChunkMeta c;
    if (i == 0) {
      c.min_time = d.varint();
      c.max_time = int64_t(uint64_t(c.min_time) + d.uvarint());
      c.ref = d.uvarint();
    } else {
      c.min_time = int64_t(prev_max + d.uvarint());
      c.max_time = int64_t(uint64_t(c.min_time) + d.uvarint());
      c.ref = prev_ref + uint64_t(d.varint());
    }
    if (!d.ok()) return "chunk " + std::to_string(i) + ": " + d.err();
    prev_max = uint64_t(c.max_time);
    prev_ref = c.ref;
    chunks.push_back(c);
  }
  if (d.remaining() != 0) return std::to_string(d.remaining()) + " trailing bytes";
  return check_chunk_metas(chunks);
}

}  // namespace promblock::index
