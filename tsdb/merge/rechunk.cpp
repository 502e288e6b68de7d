#include "tsdb/merge/rechunk.h"

#include <algorithm>

#include "tsdb/chunkenc/xor_batch.h"

namespace promblock::merge {

namespace {

// True when samples[i..] starts with every sample of source chunk c, in
// order, and nothing else in between.
bool is_whole_chunk(std::span<const TaggedSample> samples, size_t i, uint32_t c, uint32_t count) {
  if (count == 0 || i + count > samples.size()) return false;
  for (uint32_t k = 0; k < count; ++k)
    if (samples[i + k].chunk != c || samples[i + k].position != k) return false;
  return true;
}

}  // namespace

void Rechunker::add_verbatim(const SourceChunk& s, std::vector<ChunkData>& out) {
  out.push_back({s.min_time, s.max_time, s.encoding, s.data, s.num_samples});
  ++copied_;
}

void Rechunker::add(const SampleRun& samples, std::span<const SourceChunk> sources,
                    std::vector<ChunkData>& out) {
  size_t pending_from = 0;
  size_t i = 0;
  while (i < samples.size()) {
    const TaggedSample& s = samples[i];
    // Only the start of a chunk can start a whole one: test that first.
    if (s.position == 0 && is_whole_chunk(samples, i, s.chunk, sources[s.chunk].num_samples)) {
      uint32_t count = sources[s.chunk].num_samples;
      encode(std::span(samples).subspan(pending_from, i - pending_from), out);
      add_verbatim(sources[s.chunk], out);
      i += count;
      pending_from = i;
      continue;
    }
    ++i;
  }
  encode(std::span(samples).subspan(pending_from), out);
}

uint8_t* Rechunker::reserve(size_t size) {
  constexpr size_t kBlockSize = 64 * 1024;
  if (block_ < blocks_.size() && used_ + size > blocks_[block_].size) ++block_, used_ = 0;
  if (block_ == blocks_.size() || blocks_[block_].size < size) {
    // A new block, or one too small for this request while still empty.
    size_t n = std::max(kBlockSize, size);
    Block b{std::unique_ptr<uint8_t[]>(new uint8_t[n]), n};
    if (block_ == blocks_.size())
      blocks_.push_back(std::move(b));
    else
      blocks_[block_] = std::move(b);
  }
  return blocks_[block_].bytes.get() + used_;
}

void Rechunker::encode(std::span<const TaggedSample> samples, std::vector<ChunkData>& out) {
  while (!samples.empty()) {
    size_t n = std::min(samples.size(), kMaxSamplesPerChunk);
    uint8_t* dst = reserve(chunkenc::xor_max_encoded_size(n));
    size_t size = chunkenc::xor_encode_chunk(samples.data(), n, dst);
    used_ += size;
    out.push_back({samples[0].t, samples[n - 1].t, uint8_t(chunkenc::Encoding::kXOR),
                   std::span<const uint8_t>(dst, size), uint32_t(n)});
    ++reencoded_;
    samples = samples.subspan(n);
  }
}

}  // namespace promblock::merge
