#pragma once
// Encoding of one series entry's body (everything between the uvarint length
// and the CRC): label symbol refs, then delta-encoded chunk metas.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "index/format.h"
#include "tsdb/base/encoding.h"

namespace promblock::index {

// (name symbol ref, value symbol ref) of one label.
using LabelRefs = std::pair<uint32_t, uint32_t>;

// Appends the body to `out`. Chunk times and refs are delta-encoded with
// wrap-around arithmetic exactly as Prometheus does, so overlapping chunks
// round-trip too.
void encode_series_body(enc::Encbuf& out, std::span<const LabelRefs> labels,
                        std::span<const ChunkMeta> chunks);
// The body's two parts, each appended to `out`: the label count and refs,
// then the chunk count and metas. A merge encodes the chunk part where the
// metas are at hand, on a worker thread (IndexWriter::add_series_encoded).
void encode_series_labels(enc::Encbuf& out, std::span<const LabelRefs> labels);
void encode_chunk_metas(enc::Encbuf& out, std::span<const ChunkMeta> chunks);

// Decodes a body into `labels` and `chunks` (both cleared first). Returns an
// empty string on success, else what is wrong. Rejects trailing bytes, a chunk
// whose max time precedes its min time, and chunks not sorted by min time.
std::string decode_series_body(std::span<const uint8_t> body, std::vector<LabelRefs>& labels,
                               std::vector<ChunkMeta>& chunks);

// Why `chunks` cannot be stored, or empty when they can.
std::string check_chunk_metas(std::span<const ChunkMeta> chunks);

}  // namespace promblock::index
