#pragma once
// Turns the merged samples of one series back into chunks: runs that are
// exactly one whole input chunk are copied byte for byte; everything else
// is re-encoded into chunks of at most 120 samples (Prometheus's target
// size): floats with our XOR encoder, or XOR2 where samples come from XOR2
// chunks or carry start timestamps; native histograms as
// histogram_rechunk.h plans them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "index/format.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/merge/chunk_bytes.h"
#include "tsdb/merge/histogram_rechunk.h"
#include "tsdb/merge/sample.h"

namespace promblock::merge {

inline constexpr size_t kMaxSamplesPerChunk = 120;

// An input chunk of the series being merged, as the rechunker sees it.
struct SourceChunk {
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint8_t encoding = 0;
  std::span<const uint8_t> data;                // chunk bytes in the mapped input segment
  uint32_t num_samples = 0;                     // from the chunk header
  std::optional<uint32_t> crc;                  // as stored with it (and checked), if known
  const chunks::ChunkReader* origin = nullptr;  // its input's reader and ref,
  uint64_t origin_ref = 0;                      // for a copy (ChunkData)
  bool unread = false;                          // only the meta known (ChunkData)
};

// The decoded histogram samples of the series being merged; a sample from
// a histogram chunk carries, as its value, its index here.
struct HistogramStore {
  std::span<const chunkenc::HistogramSample> ints;         // encoding 2 (and 5)
  std::span<const chunkenc::FloatHistogramSample> floats;  // encoding 3 (and 6)
};

// Start timestamps of the series' source chunks, by source chunk index and
// sample position; a source without any has an empty vector (all 0).
using StartTimes = std::span<const std::vector<int64_t>>;

// The sources a run's samples come from, [first, end) of those given: a
// series' overlapping regions each take a few of its many chunks.
struct SourceRange {
  size_t first = 0, end = SIZE_MAX;
};

// Which encodings re-encoded chunks may have.
enum class OutputEncodings {
  // Keep the inputs': XOR2 where a sample comes from an XOR2 chunk or has
  // a start timestamp, as Prometheus 3.x's compaction does; 1-3 otherwise.
  kKeep,
  // Only 1-3, for readers that know nothing newer: chunks of 4-6 are
  // re-encoded, and their start timestamps dropped.
  kLegacy,
};

class Rechunker {
 public:
  // Appends the chunks for `samples` (time-ordered) to `out`. Spans in
  // `out` stay valid until clear() (encoded bytes are kept in bytes()).
  void add(std::span<const TaggedSample> samples, std::span<const SourceChunk> sources,
           std::vector<ChunkData>& out, HistogramStore histograms = {}, StartTimes starts = {},
           SourceRange used = {});
  // Where the CPU has lanes (chunkenc/xor_lanes.h), the XOR chunks add()
  // re-encodes between these are placed in `out` at once but written
  // eight at a time, the last at end_series(): a series' runs between
  // chunks copied whole are often shorter than that. Otherwise, and
  // outside, add() writes them before it returns.
  void begin_series() { hold_float_chunks_ = true; }
  void end_series() {
    hold_float_chunks_ = false;
    encode_float_chunks(true);
  }
  // As add(), between begin_series() and end_series(), for samples that
  // stay where they are until end_series() or hold_waiting_chunks(): the
  // chunks still waiting for lanes when it returns are read from there
  // instead of copied out.
  void add_kept(std::span<const TaggedSample> samples, std::span<const SourceChunk> sources,
                std::vector<ChunkData>& out, HistogramStore histograms = {}, StartTimes starts = {},
                SourceRange used = {}) {
    add_samples(samples, sources, out, histograms, starts, used);
  }
  // A region's chunk whose samples survive whole, where the merged samples
  // carry no tags: it starts at sample `at`.
  struct WholeChunk {
    size_t at;
    uint32_t source;
  };
  // As add_kept(), for a region whose sources are all XOR chunks, merged
  // into plain float samples; `whole` (in order) says which of its
  // sources are copied whole and where they lie among the samples.
  void add_floats_kept(std::span<const FloatSample> samples, std::span<const WholeChunk> whole,
                       std::span<const SourceChunk> sources, std::vector<ChunkData>& out);
  // Copies out the samples of the chunks still waiting for lanes: call
  // before the samples given to add_kept() move or change.
  void hold_waiting_chunks();
  // Whether chunks waiting for lanes read samples given to add_kept().
  bool reads_kept_samples() const {
    return std::any_of(float_chunks_.begin(), float_chunks_.end(),
                       [](const FloatChunk& c) { return c.held_at == kInRun; });
  }
  // Copies one source chunk through unchanged.
  void add_verbatim(const SourceChunk& source, std::vector<ChunkData>& out);
  // Passes an unread chunk (only its meta known) through where it lies.
  void add_unread(const index::ChunkMeta& meta, const chunks::ChunkReader* origin,
                  std::vector<ChunkData>& out) {
    out.push_back({meta.min_time, meta.max_time, 0, {}, 0, std::nullopt, origin, meta.ref, true});
    ++copied_, ++unread_;
  }
  // Counts n unread chunks passed through without a ChunkData each.
  void count_unread(uint64_t n) { copied_ += n, unread_ += n; }
  void clear() { bytes().clear(); }
  // Encoded chunks go into `store` from now on (nullptr: this one's own),
  // which clear() then clears.
  void store_chunks_in(ChunkBytes* store) { store_ = store; }
  // clear(), and the counts start again from 0.
  void reset() {
    clear();
    copied_ = reencoded_ = unread_ = 0;
  }
  void set_output_encodings(OutputEncodings e) { output_ = e; }
  // Whether a source chunk may be copied as it is.
  bool may_copy(const SourceChunk& c) const {
    return output_ == OutputEncodings::kKeep || c.encoding < uint8_t(chunkenc::Encoding::kXOR2);
  }

  uint64_t chunks_copied() const { return copied_; }
  uint64_t chunks_reencoded() const { return reencoded_; }
  // Of the copied, those passed on unread (SourceChunk::unread).
  uint64_t chunks_unread() const { return unread_; }

 private:
  // Re-encodes samples [from, to) of the run being added.
  void encode(size_t from, size_t to, std::vector<ChunkData>& out);
  void encode_floats(std::span<const TaggedSample> samples, std::vector<ChunkData>& out);
  // Places XOR chunks of at most 120 samples each for `samples`, to be
  // written in lanes (encode_float_chunks) or, without lanes, at once.
  template <class Sample>
  void place_float_chunks(std::span<const Sample> samples, std::vector<ChunkData>& out);
  // Floats of which some come from XOR2 chunks: XOR2 and XOR chunks cut
  // where Prometheus 3.14's seriesToChunkEncoder cuts them.
  void encode_floats_st(std::span<const TaggedSample> samples, std::vector<ChunkData>& out);
  // Writes the XOR chunks encode_floats placed: eight at a time (in lanes,
  // chunkenc/xor_lanes.h), and all of them if `all`.
  void encode_float_chunks(bool all);
  // Encodes one XOR chunk one by one into chunk's place.
  template <class Sample>
  void write_float_chunk(const Sample* samples, uint32_t n, ChunkData& chunk);
  // Fills chunk's place with its stored bytes.
  void stored_float_chunk(std::span<const uint8_t> stored, uint32_t n, ChunkData& chunk);
  void emit(std::span<const uint8_t> encoded, uint8_t encoding, int64_t min_time, int64_t max_time,
            uint32_t n, std::vector<ChunkData>& out);
  int64_t start_of(const TaggedSample& s) const {
    return s.chunk < starts_.size() && !starts_[s.chunk].empty() ? starts_[s.chunk][s.position] : 0;
  }
  // 1 for floats, 2 and 3 for integer and float histograms (with or
  // without start timestamps): samples of one kind share a chunk.
  uint8_t kind_of(const TaggedSample& s) const {
    uint8_t e = encoding_of(s);
    return chunkenc::is_float_encoding(e) ? 1 : e >= uint8_t(chunkenc::Encoding::kXOR2) ? e - 3 : e;
  }
  template <class Sample>
  void encode_histograms(size_t from, size_t to, std::vector<ChunkData>& out);
  uint8_t encoding_of(const TaggedSample& s) const { return sources_[s.chunk].encoding; }
  template <class Sample>
  const Sample& histogram(const TaggedSample& s) const;
  // The last real histogram sample before `i` in the run, if histograms of
  // the same kind lead up to it.
  template <class Sample>
  const Sample* histogram_before(size_t i) const;
  // Whether a whole histogram chunk starting at sample i keeps a true
  // counter reset header where it lands in the merged series.
  bool header_holds(size_t i) const;

  // Where the encoded chunks go: the store given, or this one's own.
  ChunkBytes& bytes() { return store_ ? *store_ : own_bytes_; }

  ChunkBytes own_bytes_;
  ChunkBytes* store_ = nullptr;
  // The run being added and its sources, during add().
  std::span<const TaggedSample> samples_;
  std::span<const SourceChunk> sources_;
  HistogramStore histograms_;
  StartTimes starts_;
  OutputEncodings output_ = OutputEncodings::kKeep;
  bool any_histograms_ = false;
  bool any_xor2_ = false;
  std::vector<uint8_t> encoded_;  // scratch for encode_histograms()
  // XOR chunks placed in an output, their bytes still to be written. Their
  // samples are read where they are while add() runs; those still waiting
  // when it returns are copied (the runs they come from are scratch).
  struct FloatChunk {
    std::vector<ChunkData>* out;
    size_t index;            // in *out
    const uint8_t* samples;  // in the run being added (TaggedSample or FloatSample), or
    size_t held_at;          // in held_samples_ once copied (else kInRun)
    uint32_t n;
    uint32_t stride;  // of the samples in the run: sizeof either
  };
  static constexpr size_t kInRun = ~size_t(0);
  // Calls fn with a pointer to c's samples, of their type.
  template <class Fn>
  void with_samples(const FloatChunk& c, Fn&& fn) const {
    if (c.held_at != kInRun) return fn(held_samples_.data() + c.held_at);
    if (c.stride == sizeof(TaggedSample))
      return fn(reinterpret_cast<const TaggedSample*>(c.samples));
    fn(reinterpret_cast<const FloatSample*>(c.samples));
  }
  // add() and add_kept(), but for what becomes of the chunks waiting for
  // lanes at the end.
  void add_samples(std::span<const TaggedSample> samples, std::span<const SourceChunk> sources,
                   std::vector<ChunkData>& out, HistogramStore histograms, StartTimes starts,
                   SourceRange used);
  std::vector<FloatChunk> float_chunks_;
  FloatRun held_samples_;  // only their times and values: all the encoder reads
  bool hold_float_chunks_ = false;
  std::vector<uint8_t> lanes_out_;  // scratch for encode_float_chunks()
  uint64_t copied_ = 0;
  uint64_t reencoded_ = 0;
  uint64_t unread_ = 0;
};

}  // namespace promblock::merge
