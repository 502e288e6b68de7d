#pragma once
// Merges the copies of one output series (from several blocks and
// replicas) into the chunks of the output block, following the dedup mode.
// Chunks that overlap nothing are copied without decoding; overlapping
// ones are decoded, merged and re-encoded.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/format.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor_lanes.h"
#include "tsdb/merge/rechunk.h"
#include "tsdb/model/labels.h"

namespace promblock::merge {

enum class DedupMode { kPenalty, kChain, kNone };

// The mode a name names ("chain", "none"; anything else is penalty, the
// default: callers have checked the name already).
DedupMode dedup_mode_from_name(std::string_view name);

// One input block's copy of the series.
struct SeriesCopy {
  const BlockReader* block = nullptr;
  std::vector<index::ChunkMeta> chunks;
  uint32_t replica_rank = 0;  // 0 = the replica ordered first
  // The cluster of time-overlapping blocks its block belongs to. Penalty
  // dedup runs cluster by cluster, as it would in one job per cluster: a
  // compaction that merges several clusters' blocks in one pass numbers
  // them in time order; a plain merge is one cluster.
  uint32_t cluster = 0;
  const std::vector<Interval>* deleted = nullptr;  // tombstones; may be null
  // Where its chunks were read ahead (a batch's windows over its block's
  // segments); null or none over a chunk's segment: the mapping.
  const std::vector<chunks::ChunkReader::Window>* windows = nullptr;
  // Its chunks are read only if they must be decoded: its block's segments
  // are linked into the output and its stats count its samples.
  bool unread = false;
};

// Samples counted by kind, as meta.json counts them.
struct SampleCounts {
  uint64_t floats = 0, histograms = 0;
  SampleCounts& operator+=(const SampleCounts& o) {
    floats += o.floats, histograms += o.histograms;
    return *this;
  }
};

class SeriesMerger {
 public:
  explicit SeriesMerger(DedupMode mode, OutputEncodings encodings = OutputEncodings::kKeep)
      : mode_(mode) {
    rechunker_.set_output_encodings(encodings);
  }

  // Replaces `out` with the output chunks of the series. The spans in `out`
  // stay valid until the next call.
  void merge(const Labels& labels, std::span<const SeriesCopy> copies, std::vector<ChunkData>& out);
  // As merge(), but the spans of earlier calls stay valid too, until
  // clear(): for merging a batch of series whose chunks are written later.
  void merge_keeping(const Labels& labels, std::span<const SeriesCopy> copies,
                     std::vector<ChunkData>& out);
  // Reads the chunks of the next series (each given by its copies, in the
  // order they will be merged) and decodes together, in lanes
  // (chunkenc/xor_lanes.h), the XOR chunks their merges will decode: one
  // chunk at a time, each would wait on its own chain of reads. Returns
  // how many of the series it took (enough to fill the lanes, at least
  // one); merging them takes the chunks read and decoded here, anything
  // else is read and decoded as without it.
  size_t read_ahead(std::span<const std::span<const SeriesCopy>> series);
  // Where the series' chunks go through unread and as they lie (see
  // pass_unread_through), counts them so and returns true, building
  // nothing: the caller writes the copies' chunk metas as they are, in the
  // order given (BlockWriter::add_series_in_place). A fortnight's 14d job
  // passes 2.7 million chunks so; a ChunkData apiece, stored on one core
  // and read on the other, took a fifth of its time.
  bool take_in_place(std::span<const SeriesCopy> copies);
  void clear() { rechunker_.clear(); }
  // Re-encoded chunks' bytes go into `store` from now on (nullptr: this
  // merger's own), and clear() clears it.
  void store_chunks_in(ChunkBytes* store) { rechunker_.store_chunks_in(store); }
  // clear(), and the counts below start again from 0.
  void reset() {
    rechunker_.reset();
    samples_in_ = 0;
    decoded_ahead_ = decoded_by_region_ = 0;
    unread_read_ = {};
  }

  uint64_t chunks_copied() const { return rechunker_.chunks_copied(); }
  uint64_t chunks_reencoded() const { return rechunker_.chunks_reencoded(); }
  uint64_t chunks_unread() const { return rechunker_.chunks_unread(); }
  // Chunks decoded in lanes: by read_ahead, or region by region (the
  // chunks of series too long for read_ahead).
  uint64_t chunks_decoded_ahead() const { return decoded_ahead_; }
  uint64_t chunks_decoded_by_region() const { return decoded_by_region_; }
  // Samples of the chunks read (their headers' counts).
  uint64_t samples_in() const { return samples_in_; }
  // Of those, samples of unread copies' chunks that had to be read after all.
  const SampleCounts& unread_read() const { return unread_read_; }

 private:
  struct Source {
    const SeriesCopy* copy;
    index::ChunkMeta meta;
    SourceChunk chunk;
    // Where it was decoded in lanes, if it was (read_ahead, decode_in_lanes).
    const chunkenc::XorLaneDecoder* decoder = nullptr;
    int lane = -1;
    bool one_by_one = false;  // not for lanes: decode_in_lanes passes it by
  };
  // A chunk read ahead, in the order collect_sources will ask for it.
  struct AheadChunk {
    const SeriesCopy* copy;
    const index::ChunkMeta* meta;
    chunks::ChunkReader::Chunk chunk;
    int lane = -1;
  };
  // Samples read_ahead decodes at most: their rows wait in the lanes until
  // merged, and more would not stay in the caches (measured on 2 000
  // series of 23 000 samples, whose merges decoded that way slowed down).
  static constexpr uint64_t kMaxAheadSamples = 16384;
  // Chunks decoded together at most (read_ahead, decode_in_lanes): two for
  // each of the decoder's lanes (24). At 32, a long series' regions kept 8
  // lanes busy with a second chunk while 16 idled (a third of the steps).
  static constexpr size_t kAheadLanes = 2 * chunkenc::XorLaneDecoder::kLanes;
  // The time range of a chunk read_ahead considers (unread ones too).
  struct AheadRange {
    int64_t min_time, max_time;
    uint32_t cluster, replica_rank;
    int64_t ahead;  // its index in ahead_, or -1 for an unread chunk
  };
  // Queues the chunks of one series' copies that are read (not unread)
  // and the lanes of those its merge will decode.
  void queue_ahead(std::span<const SeriesCopy> copies);
  // The chunk of copy c at m: from read_ahead if it read it.
  chunks::ChunkReader::Chunk read_chunk(const SeriesCopy& c, const index::ChunkMeta& m, int& lane);
  // Decodes in lanes the XOR chunks among sources `which` (about to be
  // merged) that read_ahead left, a long series' chunks whose samples would
  // not stay in the caches until merged; with those after them, where
  // there are enough.
  void decode_in_lanes(std::span<const uint32_t> which);
  // Where every copy is unread, untouched by tombstones and their chunks
  // follow one another without overlapping (a level's linked inputs), each
  // chunk goes through as it lies: what the merge would decide, without
  // its bookkeeping. False, with `out` untouched, where that does not hold.
  bool pass_unread_through(std::span<const SeriesCopy> copies, std::vector<ChunkData>& out);
  bool passes_unread_through(std::span<const SeriesCopy> copies) const;
  void collect_sources(std::span<const SeriesCopy> copies);
  // Whether the copies of `cluster` come from more than one replica: then
  // penalty deduplicates them (and decodes every chunk), else chains them.
  static bool several_replicas(std::span<const SeriesCopy> copies, uint32_t cluster);
  // Merges sources_ (of `copies`) by the dedup mode.
  void merge_sources(const Labels& labels, std::span<const SeriesCopy> copies,
                     std::vector<ChunkData>& out);
  // The source of a chunk read from copy c; counts its samples in.
  SourceChunk source_of(const SeriesCopy& c, const index::ChunkMeta& m,
                        const chunks::ChunkReader::Chunk& chunk);
  // Reads source i's chunk if its copy left it unread.
  void read_unread(uint32_t i);
  bool touched_by_tombstones(const Source& s) const;
  // Fails on source i's chunk of the series, saying what is wrong with it.
  [[noreturn]] void fail_source(const Labels& labels, uint32_t i, const std::string& what) const;
  // Whether source s continues the run of prev (the source before it in a
  // region's order): consecutive chunks of one replica that do not overlap
  // extend one run, across its blocks too, so that a merge sees one run
  // per replica instead of one per chunk or block.
  static bool extends_run(const Source* prev, const Source& s) {
    return prev && prev->copy->replica_rank == s.copy->replica_rank &&
           s.meta.min_time > prev->meta.max_time;
  }
  // Decodes source i into a tagged run, dropping deleted samples.
  void decode(const Labels& labels, uint32_t i, SampleRun& run) const;
  template <class Run, class Fail>
  void decode_floats(uint32_t i, Run& run, const Fail& fail_chunk) const;
  template <class Fail>
  void decode_xor2(uint32_t i, SampleRun& run, const Fail& fail_chunk) const;
  template <class Iterator, class Sample, class Fail>
  void decode_histograms(uint32_t i, SampleRun& run, std::vector<Sample>& store, uint64_t& used,
                         const Fail& fail_chunk) const;
  HistogramStore histograms() const {
    return {std::span(histograms_.data(), histograms_used_),
            std::span(float_histograms_.data(), float_histograms_used_)};
  }
  // Decodes the sources in `order` into time-ordered runs (in runs_), one
  // per stretch of non-overlapping chunks of one replica.
  std::span<SampleRun> decode_runs(const Labels& labels, std::span<const uint32_t> order);
  // Each merges sources_[begin, end) and appends their chunks to `out`.
  void merge_penalty(const Labels& labels, size_t begin, size_t end, std::vector<ChunkData>& out);
  void merge_chain(const Labels& labels, size_t begin, size_t end, std::vector<ChunkData>& out);
  // merge_chain's region of the sources in `order` (by replica rank), as
  // plain float samples, where every source is an XOR chunk of a copy
  // without tombstones (most regions): returns false where not, having
  // read its unread sources and nothing more.
  bool merge_chain_floats(const Labels& labels, std::span<const uint32_t> order,
                          std::vector<ChunkData>& out);
  // Which of the region's sources survive the merge of their runs into
  // `merged` whole, into whole_ in the order they lie there.
  void find_whole_chunks(std::span<const FloatSample> merged);

  DedupMode mode_;
  Rechunker rechunker_;
  std::vector<Source> sources_;         // sorted by min time, then replica rank
  std::vector<size_t> run_ends_;        // scratch of stable_sort_stretches
  std::vector<Source> merged_sources_;  // collect_sources's scratch
  std::vector<uint32_t> region_order_;  // merge_chain's scratch
  std::vector<SourceChunk> source_chunks_;
  std::vector<SampleRun> runs_;  // scratch, reused across series
  SampleRun merged_;             // scratch, reused across series
  // merge_chain's merged regions of the series, one after another: the
  // rechunker reads its chunks waiting for lanes here (add_kept).
  SampleRun chained_;
  // merge_chain_floats's sources' samples (by the region's order), where
  // they lie: in a lane decoder's rows, or else in loose_floats_. A run
  // is a stretch of them (decode_runs), merged straight from there.
  struct FloatSegment {
    const uint64_t* t;
    const uint64_t* v;
    size_t stride;  // in words
    uint32_t n;
    uint32_t run;
    uint32_t source;
    size_t loose_at;  // where in loose_floats_, until t and v point there
    int64_t first_t() const { return int64_t(t[0]); }
    int64_t last_t() const { return int64_t(t[(n - 1) * stride]); }
  };
  std::vector<FloatSegment> float_segments_;
  std::vector<uint32_t> float_run_starts_;  // each run's first segment, then their end
  FloatRun loose_floats_;
  std::vector<FloatRun> float_runs_;  // runs copied out: one alone, or more than two
  // merge_chain_floats's merged regions (as chained_) and whole chunks.
  FloatRun chained_floats_;
  std::vector<Rechunker::WholeChunk> whole_;
  std::vector<SampleRun> replicas_;           // penalty's per-replica runs, reused
  SampleRun deduplicated_;                    // penalty's result, reused
  mutable std::vector<uint8_t> scratch_;      // the padded copy of a chunk being decoded
  chunkenc::XorLaneDecoder lanes_;            // read_ahead's
  chunkenc::XorLaneDecoder region_lanes_[2];  // decode_in_lanes's, in turn
  int next_region_lanes_ = 0;
  std::vector<uint32_t> region_taken_;  // scratch
  std::vector<AheadChunk> ahead_;
  size_t ahead_next_ = 0;                   // the next of ahead_ for collect_sources
  std::vector<AheadRange> ahead_ranges_;    // scratch
  std::vector<AheadRange> merged_ranges_;   // queue_ahead's scratch
  std::vector<AheadChunk*> ahead_decoded_;  // scratch
  // Start timestamps of decoded XOR2 sources, by source index (rechunk.h).
  mutable std::vector<std::vector<int64_t>> starts_;
  // Decoded histogram samples of the series (kept for reuse beyond
  // histograms_used_); a run's histogram sample holds its index here.
  mutable std::vector<chunkenc::HistogramSample> histograms_;
  mutable uint64_t histograms_used_ = 0;
  mutable std::vector<chunkenc::FloatHistogramSample> float_histograms_;
  mutable uint64_t float_histograms_used_ = 0;
  uint64_t samples_in_ = 0;
  mutable uint64_t decoded_ahead_ = 0, decoded_by_region_ = 0;
  SampleCounts unread_read_;
};

}  // namespace promblock::merge
