#include "tsdb/merge/series_merger.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>

#include "tsdb/base/error.h"
#include "tsdb/base/message_format.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor2.h"
#include "tsdb/chunkenc/xor_batch.h"
#include "tsdb/merge/dedup.h"
#include "tsdb/merge/stretch_sort.h"

namespace promblock::merge {

namespace {

// Calls fn(begin, end) for each stretch of [first, last) whose time ranges
// overlap one another (transitively), in order; the ranges are sorted by
// min time.
template <class Range, class Fn>
void for_each_overlap_region(size_t first, size_t last, const Range& range_of, const Fn& fn) {
  for (size_t i = first; i < last;) {
    size_t end = i + 1;
    int64_t region_max = range_of(i).second;
    while (end < last && range_of(end).first <= region_max) {
      region_max = std::max(region_max, range_of(end).second);
      ++end;
    }
    fn(i, end);
    i = end;
  }
}

// The chunk of copy c at m, read from the copy's windows where it has them.
chunks::ChunkReader::Chunk fetch_chunk(const SeriesCopy& c, const index::ChunkMeta& m) {
  return c.windows ? c.block->chunks().chunk(m.ref, *c.windows) : c.block->chunks().chunk(m.ref);
}

}  // namespace

DedupMode dedup_mode_from_name(std::string_view name) {
  if (name == "chain") return DedupMode::kChain;
  if (name == "none") return DedupMode::kNone;
  return DedupMode::kPenalty;
}

bool SeriesMerger::pass_unread_through(std::span<const SeriesCopy> copies,
                                       std::vector<ChunkData>& out) {
  if (!passes_unread_through(copies)) return false;
  for (const auto& c : copies)
    for (const auto& m : c.chunks) rechunker_.add_unread(m, &c.block->chunks(), out);
  return true;
}

bool SeriesMerger::take_in_place(std::span<const SeriesCopy> copies) {
  if (!passes_unread_through(copies)) return false;
  uint64_t chunks = 0;
  for (const auto& c : copies) chunks += c.chunks.size();
  rechunker_.count_unread(chunks);
  return true;
}

bool SeriesMerger::passes_unread_through(std::span<const SeriesCopy> copies) const {
  // The copies in the order given must already be the order collect_sources
  // sorts into (by cluster for penalty, then time), with no chunk
  // overlapping the one before it: then chain copies every chunk whole, and
  // so does penalty where no cluster holds several replicas.
  const bool by_cluster = mode_ == DedupMode::kPenalty;
  int64_t last_max = 0;
  bool any = false;
  const SeriesCopy* cluster_first = nullptr;
  for (const auto& c : copies) {
    if (!c.unread || (c.deleted && !c.deleted->empty())) return false;
    if (by_cluster) {
      if (cluster_first && c.cluster < cluster_first->cluster) return false;
      if (!cluster_first || c.cluster != cluster_first->cluster)
        cluster_first = &c;
      else if (c.replica_rank != cluster_first->replica_rank)
        return false;  // penalty decodes such a cluster
    }
    for (const auto& m : c.chunks) {
      if (m.min_time > m.max_time || (any && m.min_time <= last_max)) return false;
      last_max = m.max_time, any = true;
    }
  }
  return true;
}

void SeriesMerger::collect_sources(std::span<const SeriesCopy> copies) {
  sources_.clear();
  for (const auto& c : copies)
    for (const auto& m : c.chunks) {
      if (c.unread) {
        // Only where it lies: a linked segment holds it, and it is read
        // only if it must be decoded (read_unread).
        SourceChunk unread{m.min_time,   m.max_time,         0,    {}, 0,
                           std::nullopt, &c.block->chunks(), m.ref};
        unread.unread = true;
        sources_.push_back({&c, m, unread});
        continue;
      }
      int lane = -1;
      auto chunk = read_chunk(c, m, lane);
      sources_.push_back({&c, m, source_of(c, m, chunk), lane >= 0 ? &lanes_ : nullptr, lane});
    }
  // Penalty takes one cluster at a time: each must be one stretch, even
  // where a damaged block has chunks outside its time range. (Clusters are
  // numbered in time order; chain ignores them.)
  const bool by_cluster = mode_ == DedupMode::kPenalty;
  auto before = [by_cluster](const Source& a, const Source& b) {
    if (by_cluster && a.copy->cluster != b.copy->cluster) return a.copy->cluster < b.copy->cluster;
    if (a.meta.min_time != b.meta.min_time) return a.meta.min_time < b.meta.min_time;
    return a.copy->replica_rank < b.copy->replica_rank;
  };
  // Copies of blocks that follow one another in time (a level's inputs)
  // come in order already; else in a few stretches in order.
  stable_sort_stretches(sources_, before, run_ends_, merged_sources_);
  source_chunks_.clear();
  for (const auto& s : sources_) source_chunks_.push_back(s.chunk);
  if (starts_.size() < sources_.size()) starts_.resize(sources_.size());
  for (size_t i = 0; i < sources_.size(); ++i) starts_[i].clear();
}

size_t SeriesMerger::read_ahead(std::span<const std::span<const SeriesCopy>> series) {
  ahead_.clear();
  ahead_next_ = 0;
  lanes_.clear();
  if (!chunkenc::xor_lanes_supported()) return series.size();
  size_t taken = 0;
  while (taken < series.size() &&
         (taken == 0 || (lanes_.size() < kAheadLanes && lanes_.samples() < kMaxAheadSamples)))
    queue_ahead(series[taken++]);
  lanes_.decode();
  return taken;
}

void SeriesMerger::queue_ahead(std::span<const SeriesCopy> copies) {
  // Nothing to read (a level's linked inputs): pass_unread_through takes
  // such a series, or reads what it must decode then.
  if (std::all_of(copies.begin(), copies.end(), [](const SeriesCopy& c) { return c.unread; }))
    return;
  // Every chunk collect_sources will read, in its order; and the time
  // ranges of all (unread ones too), to find those the merge decodes.
  using Range = AheadRange;
  const bool by_cluster = mode_ == DedupMode::kPenalty;
  std::vector<Range>& ranges = ahead_ranges_;
  ranges.clear();
  for (const auto& c : copies)
    for (const auto& m : c.chunks) {
      ranges.push_back({m.min_time, m.max_time, by_cluster ? c.cluster : 0, c.replica_rank,
                        c.unread ? -1 : int64_t(ahead_.size())});
      if (c.unread) continue;
      ahead_.push_back({&c, &m, fetch_chunk(c, m)});
    }
  auto before = [](const Range& a, const Range& b) {
    return a.cluster != b.cluster ? a.cluster < b.cluster : a.min_time < b.min_time;
  };
  stable_sort_stretches(ranges, before, run_ends_, merged_ranges_);
  std::vector<AheadChunk*>& decoded = ahead_decoded_;
  decoded.clear();
  uint64_t samples = 0;
  auto decodes = [&](size_t begin, size_t end) {
    for (size_t k = begin; k < end; ++k) {
      if (ranges[k].ahead < 0) continue;
      AheadChunk& a = ahead_[size_t(ranges[k].ahead)];
      if (a.chunk.encoding != uint8_t(chunkenc::Encoding::kXOR) || a.chunk.data.size() < 2)
        continue;
      decoded.push_back(&a);
      samples += chunkenc::header_sample_count(a.chunk.encoding, a.chunk.data);
    }
  };
  // As merge_keeping decides: penalty decodes every chunk of a cluster
  // with several replicas; otherwise each stretch of chunks overlapping
  // one another is decoded, and a chunk overlapping nothing is copied.
  for (size_t begin = 0; begin < ranges.size();) {
    size_t end = begin + 1;
    while (end < ranges.size() && ranges[end].cluster == ranges[begin].cluster) ++end;
    if (by_cluster && several_replicas(copies, ranges[begin].cluster)) {
      decodes(begin, end);
    } else {
      auto range_of = [&](size_t k) { return std::pair(ranges[k].min_time, ranges[k].max_time); };
      for_each_overlap_region(begin, end, range_of, [&](size_t first, size_t last) {
        if (last > first + 1) decodes(first, last);
      });
    }
    begin = end;
  }
  // A series whose samples would not stay in the caches until merged is
  // decoded region by region instead (decode_in_lanes).
  if (lanes_.samples() + samples > kMaxAheadSamples) return;
  for (AheadChunk* a : decoded) a->lane = lanes_.add(a->chunk.data);
}

void SeriesMerger::decode_in_lanes(std::span<const uint32_t> which) {
  if (!chunkenc::xor_lanes_supported()) return;
  auto wanted = [&](const Source& s) {
    return !s.decoder && !s.one_by_one && !s.chunk.unread &&
           s.chunk.encoding == uint8_t(chunkenc::Encoding::kXOR);
  };
  uint32_t last = 0;
  bool any = false;
  for (uint32_t k : which) {
    any |= wanted(sources_[k]);
    last = std::max(last, k);
  }
  if (!any) return;
  // These and, while the lanes have room, the chunks after them: a region
  // of a long series often holds fewer chunks than a register has lanes.
  // Regions are merged in order, so the decoder filled before this one
  // may still hold some of these; the one before that is done with.
  chunkenc::XorLaneDecoder& lanes = region_lanes_[next_region_lanes_];
  lanes.clear();
  std::vector<uint32_t>& taken = region_taken_;
  taken.clear();
  auto take = [&](uint32_t k) {
    Source& s = sources_[k];
    if (!wanted(s)) return;
    s.lane = lanes.add(s.chunk.data);
    s.one_by_one = s.lane < 0;
    if (s.lane >= 0) s.decoder = &lanes, taken.push_back(k);
  };
  for (uint32_t k : which) take(k);
  for (uint32_t k = last + 1;
       k < sources_.size() && lanes.size() < kAheadLanes && lanes.samples() < kMaxAheadSamples; ++k)
    take(k);
  // One register at least: with fewer chunks, a lane step costs more than
  // decoding them one by one.
  constexpr size_t kMinChunks = 8;
  if (lanes.size() < kMinChunks) {
    for (uint32_t k : taken) {
      Source& s = sources_[k];
      s.decoder = nullptr, s.lane = -1, s.one_by_one = true;
    }
    return;
  }
  lanes.decode();
  next_region_lanes_ ^= 1;
}

chunks::ChunkReader::Chunk SeriesMerger::read_chunk(const SeriesCopy& c, const index::ChunkMeta& m,
                                                    int& lane) {
  if (ahead_next_ < ahead_.size()) {
    const AheadChunk& a = ahead_[ahead_next_];
    if (a.copy == &c && a.meta->ref == m.ref) {
      ++ahead_next_;
      lane = a.lane;
      return a.chunk;
    }
  }
  lane = -1;
  return fetch_chunk(c, m);
}

SourceChunk SeriesMerger::source_of(const SeriesCopy& c, const index::ChunkMeta& m,
                                    const chunks::ChunkReader::Chunk& chunk) {
  uint32_t n = chunkenc::header_sample_count(chunk.encoding, chunk.data);
  samples_in_ += n;
  return {m.min_time, m.max_time, chunk.encoding,     chunk.data,
          n,          chunk.crc,  &c.block->chunks(), m.ref};
}

void SeriesMerger::read_unread(uint32_t i) {
  Source& s = sources_[i];
  if (!s.chunk.unread) return;
  s.chunk = source_of(*s.copy, s.meta, s.copy->block->chunks().chunk(s.meta.ref));
  source_chunks_[i] = s.chunk;
  const bool is_float = chunkenc::is_float_encoding(s.chunk.encoding);
  (is_float ? unread_read_.floats : unread_read_.histograms) += s.chunk.num_samples;
}

bool SeriesMerger::touched_by_tombstones(const Source& s) const {
  if (!s.copy->deleted) return false;
  for (const auto& iv : *s.copy->deleted)
    if (iv.min_time <= s.meta.max_time && iv.max_time >= s.meta.min_time) return true;
  return false;
}

void SeriesMerger::fail_source(const Labels& labels, uint32_t i, const std::string& what) const {
  const Source& s = sources_[i];
  fail(s.copy->block->dir() + "/chunks",
       "chunk " + hex64(s.meta.ref) + " of series " + labels_to_string(labels) + ": " + what);
}

void SeriesMerger::decode(const Labels& labels, uint32_t i, SampleRun& run) const {
  const Source& s = sources_[i];
  auto fail_chunk = [&](const std::string& what) { fail_source(labels, i, what); };
  const size_t first = run.size();
  using chunkenc::Encoding;
  switch (Encoding(s.chunk.encoding)) {
    case Encoding::kXOR:
      decode_floats(i, run, fail_chunk);
      break;
    case Encoding::kXOR2:
      decode_xor2(i, run, fail_chunk);
      break;
    case Encoding::kHistogram:
      decode_histograms<chunkenc::HistogramIterator>(i, run, histograms_, histograms_used_,
                                                     fail_chunk);
      break;
    case Encoding::kFloatHistogram:
      decode_histograms<chunkenc::FloatHistogramIterator>(i, run, float_histograms_,
                                                          float_histograms_used_, fail_chunk);
      break;
    case Encoding::kHistogramST:
      decode_histograms<chunkenc::HistogramIterator>(i, run, histograms_, histograms_used_,
                                                     fail_chunk);
      break;
    case Encoding::kFloatHistogramST:
      decode_histograms<chunkenc::FloatHistogramIterator>(i, run, float_histograms_,
                                                          float_histograms_used_, fail_chunk);
      break;
    default:
      fail_chunk("cannot merge overlapping chunks of encoding " +
                 chunkenc::encoding_name(s.chunk.encoding));
  }
  if (const std::vector<Interval>* deleted = s.copy->deleted) {
    auto kept = std::remove_if(run.begin() + std::ptrdiff_t(first), run.end(),
                               [&](const TaggedSample& x) { return is_deleted(*deleted, x.t); });
    run.erase(kept, run.end());
  }
}

template <class Iterator, class Sample, class Fail>
void SeriesMerger::decode_histograms(uint32_t i, SampleRun& run, std::vector<Sample>& store,
                                     uint64_t& used, const Fail& fail_chunk) const {
  // Each sample is kept whole in the store; the run carries its index.
  const auto format = chunkenc::histogram_format_of(sources_[i].chunk.encoding);
  const bool with_st = format == chunkenc::HistogramFormat::kWithST;
  Iterator it(sources_[i].chunk.data, format);
  std::vector<int64_t>& starts = starts_[i];
  starts.clear();
  bool any_start = false;
  uint32_t position = 0;
  while (it.next()) {
    if (used == store.size()) store.emplace_back();
    it.at(store[used]);
    run.push_back({it.t(), used++, i, position++});
    if (with_st) {
      starts.push_back(it.st());
      any_start |= it.st() != 0;
    }
  }
  if (!it.err().empty()) fail_chunk(it.err());
  if (!any_start) starts.clear();
}

template <class Fail>
void SeriesMerger::decode_xor2(uint32_t i, SampleRun& run, const Fail& fail_chunk) const {
  chunkenc::Xor2Iterator it(sources_[i].chunk.data);
  std::vector<int64_t>& starts = starts_[i];
  starts.clear();
  bool any_start = false;
  uint32_t position = 0;
  while (it.next()) {
    run.push_back({it.t(), it.v_bits(), i, position++});
    starts.push_back(it.st());
    any_start |= it.st() != 0;
  }
  if (!it.err().empty()) fail_chunk(it.err());
  if (!any_start) starts.clear();  // all 0: no lookups needed
}

template <class Run, class Fail>
void SeriesMerger::decode_floats(uint32_t i, Run& run, const Fail& fail_chunk) const {
  const Source& s = sources_[i];
  // The whole-chunk decoder (see xor_batch.h): this runs for every sample
  // of every overlapping chunk.
  const uint32_t total = s.chunk.num_samples;
  const size_t first = run.size();
  run.resize(first + total);
  auto* out = run.data() + first;
  // Chunk and position go in one 8-byte store: the copy out of the lanes'
  // rows is bound by its stores (four a sample as the compiler left it).
  static_assert(offsetof(TaggedSample, position) == offsetof(TaggedSample, chunk) + 4);
  auto emit = [&](uint32_t k, int64_t t, uint64_t v_bits) __attribute__((always_inline)) {
    auto& o = out[k];
    o.t = t;
    o.v_bits = v_bits;
    if constexpr (std::is_same_v<std::remove_reference_t<decltype(o)>, TaggedSample>) {
      const uint64_t tag = std::endian::native == std::endian::little
                               ? uint64_t(i) | uint64_t(k) << 32
                               : uint64_t(k) | uint64_t(i) << 32;
      std::memcpy(&o.chunk, &tag, sizeof tag);
    }
  };
  if (s.decoder && s.decoder->ok(s.lane)) {
    ++(s.decoder == &lanes_ ? decoded_ahead_ : decoded_by_region_);
    return s.decoder->emit_samples(s.lane, emit);
  }
  // Not decoded ahead, or faulty: the checked way names the fault.
  if (!chunkenc::xor_decode_chunk(s.chunk.data, scratch_, emit))
    fail_chunk(chunkenc::xor_chunk_error(s.chunk.data));
}

void SeriesMerger::merge(const Labels& labels, std::span<const SeriesCopy> copies,
                         std::vector<ChunkData>& out) {
  rechunker_.clear();
  merge_keeping(labels, copies, out);
}

bool SeriesMerger::several_replicas(std::span<const SeriesCopy> copies, uint32_t cluster) {
  const SeriesCopy* first = nullptr;
  for (const auto& c : copies) {
    if (c.cluster != cluster) continue;
    if (!first)
      first = &c;
    else if (c.replica_rank != first->replica_rank)
      return true;
  }
  return false;
}

void SeriesMerger::merge_keeping(const Labels& labels, std::span<const SeriesCopy> copies,
                                 std::vector<ChunkData>& out) {
  out.clear();
  histograms_used_ = float_histograms_used_ = 0;
  if (pass_unread_through(copies, out)) return;
  collect_sources(copies);
  // The series' re-encoded XOR chunks are written together at the end.
  rechunker_.begin_series();
  merge_sources(labels, copies, out);
  rechunker_.end_series();
}

void SeriesMerger::merge_sources(const Labels& labels, std::span<const SeriesCopy> copies,
                                 std::vector<ChunkData>& out) {
  if (mode_ != DedupMode::kPenalty) return merge_chain(labels, 0, sources_.size(), out);
  // Sorted by cluster first (collect_sources): each is one stretch.
  size_t begin = 0;
  while (begin < sources_.size()) {
    const uint32_t cluster = sources_[begin].copy->cluster;
    size_t end = begin + 1;
    while (end < sources_.size() && sources_[end].copy->cluster == cluster) ++end;
    if (several_replicas(copies, cluster))
      merge_penalty(labels, begin, end, out);
    else
      merge_chain(labels, begin, end, out);
    begin = end;
  }
}

std::span<SampleRun> SeriesMerger::decode_runs(const Labels& labels,
                                               std::span<const uint32_t> order) {
  decode_in_lanes(order);
  // Runs keep their memory from series to series.
  size_t used = 0;
  const Source* prev = nullptr;
  for (uint32_t k : order) {
    const Source& s = sources_[k];
    if (!extends_run(prev, s)) {
      if (used == runs_.size()) runs_.emplace_back();
      runs_[used++].clear();
    }
    read_unread(k);
    decode(labels, k, runs_[used - 1]);
    prev = &s;
  }
  return std::span(runs_.data(), used);
}

void SeriesMerger::merge_penalty(const Labels& labels, size_t begin, size_t end,
                                 std::vector<ChunkData>& out) {
  // Penalty dedup follows one replica across the whole cluster, so every
  // chunk is decoded; chunks that survive whole are still copied as bytes.
  std::vector<uint32_t> ranks;
  for (size_t i = begin; i < end; ++i) ranks.push_back(sources_[i].copy->replica_rank);
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  if (replicas_.size() < ranks.size()) replicas_.resize(ranks.size());
  std::vector<uint32_t> order;
  // The whole cluster's chunks together: each replica's alone are fewer.
  for (size_t i = begin; i < end; ++i) order.push_back(uint32_t(i));
  decode_in_lanes(order);
  for (size_t r = 0; r < ranks.size(); ++r) {
    order.clear();
    for (size_t i = begin; i < end; ++i)
      if (sources_[i].copy->replica_rank == ranks[r]) order.push_back(uint32_t(i));
    // Swapped, not copied: the buffers keep their memory for later series.
    std::span<SampleRun> runs = decode_runs(labels, order);
    if (runs.size() > 1) chain_merge(runs, merged_);
    std::swap(replicas_[r], runs.size() > 1 ? merged_ : runs[0]);
  }
  penalty_merge_all(std::span(replicas_.data(), ranks.size()), deduplicated_, merged_);
  rechunker_.add(deduplicated_, source_chunks_, out, histograms(), starts_, {begin, end});
}

void SeriesMerger::merge_chain(const Labels& labels, size_t begin, size_t end,
                               std::vector<ChunkData>& out) {
  // Walk regions of chunks whose time ranges overlap (transitively).
  std::vector<uint32_t>& order = region_order_;
  auto range_of = [&](size_t k) {
    return std::pair(sources_[k].meta.min_time, sources_[k].meta.max_time);
  };
  for_each_overlap_region(begin, end, range_of, [&](size_t i, size_t region_end) {
    if (region_end == i + 1 && !touched_by_tombstones(sources_[i]) &&
        rechunker_.may_copy(sources_[i].chunk)) {
      rechunker_.add_verbatim(sources_[i].chunk, out);
    } else {
      // Runs ordered by replica rank so that on equal timestamps the
      // replica ordered first wins: a stable sort by rank, rank by rank
      // (there are few).
      order.clear();
      uint32_t rank = UINT32_MAX, next_rank = UINT32_MAX;
      for (size_t k = i; k < region_end; ++k) rank = std::min(rank, sources_[k].copy->replica_rank);
      for (; order.size() < region_end - i; rank = next_rank) {
        next_rank = UINT32_MAX;
        for (size_t k = i; k < region_end; ++k) {
          const uint32_t r = sources_[k].copy->replica_rank;
          if (r == rank) order.push_back(uint32_t(k));
          if (r > rank) next_rank = std::min(next_rank, r);
        }
      }
      if (merge_chain_floats(labels, order, out)) return;
      // Decoded first: that fills histograms().
      std::span<const SampleRun> runs = decode_runs(labels, order);
      if (runs.size() == 1)
        return rechunker_.add(runs[0], source_chunks_, out, histograms(), starts_, {i, region_end});
      // Merged after the earlier regions of the series whose chunks still
      // wait for lanes: those read their samples there, uncopied.
      if (!rechunker_.reads_kept_samples()) chained_.clear(), chained_floats_.clear();
      size_t need = chained_.size();
      for (const SampleRun& r : runs) need += r.size();
      if (need > chained_.capacity()) {
        rechunker_.hold_waiting_chunks();
        chained_.reserve(std::max(need, 2 * chained_.capacity()));
      }
      const size_t from = chained_.size();
      chain_merge_append(runs, chained_);
      rechunker_.add_kept(std::span(chained_).subspan(from), source_chunks_, out, histograms(),
                          starts_, {i, region_end});
    }
  });
}

namespace {

// The first sample of a segment (FloatSegment) whose timestamp is not
// before t, as an index; n if none.
template <class Segment>
uint32_t first_not_before(const Segment& s, int64_t t) {
  uint32_t lo = 0, hi = s.n;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (int64_t(s.t[mid * s.stride]) < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// Chain merge of two runs, each a list of segments, appended at `o`: as
// chain_merge_append, reading the samples where they lie. Returns the end.
template <class Segment>
FloatSample* chain_merge_segments(std::span<const Segment> a, std::span<const Segment> b,
                                  FloatSample* o) {
  size_t ia = 0, ib = 0;
  const uint64_t *ta = a[0].t, *va = a[0].v, *ea = ta + a[0].n * a[0].stride;
  const uint64_t *tb = b[0].t, *vb = b[0].v, *eb = tb + b[0].n * b[0].stride;
  size_t sa = a[0].stride, sb = b[0].stride;
  auto next = [](std::span<const Segment> run, size_t& i, const uint64_t*& t, const uint64_t*& v,
                 const uint64_t*& e, size_t& stride) {
    if (i + 1 >= run.size()) return false;
    ++i;
    t = run[i].t, v = run[i].v, stride = run[i].stride, e = t + run[i].n * stride;
    return true;
  };
  for (;;) {
    // A branch per sample, not a selection by arithmetic: the replicas'
    // alternation is predicted, and the loads then wait on nothing.
    while (ta != ea && tb != eb) {
      const int64_t x = int64_t(*ta), y = int64_t(*tb);
      if (x < y) {
        *o++ = {x, *va};
        ta += sa, va += sa;
      } else if (y < x) {
        *o++ = {y, *vb};
        tb += sb, vb += sb;
      } else {  // a wins, b's is dropped
        *o++ = {x, *va};
        ta += sa, va += sa, tb += sb, vb += sb;
      }
    }
    if (ta == ea && !next(a, ia, ta, va, ea, sa)) break;
    if (tb == eb && !next(b, ib, tb, vb, eb, sb)) break;
  }
  auto rest = [&](std::span<const Segment> run, size_t i, const uint64_t* t, const uint64_t* v,
                  const uint64_t* e, size_t stride) {
    for (;;) {
      for (; t != e; t += stride, v += stride) *o++ = {int64_t(*t), *v};
      if (!next(run, i, t, v, e, stride)) return;
    }
  };
  rest(a, ia, ta, va, ea, sa);
  rest(b, ib, tb, vb, eb, sb);
  return o;
}

}  // namespace

bool SeriesMerger::merge_chain_floats(const Labels& labels, std::span<const uint32_t> order,
                                      std::vector<ChunkData>& out) {
  for (uint32_t k : order) {
    read_unread(k);
    const Source& s = sources_[k];
    // Tombstones drop samples by time, whatever the chunk's range says.
    if (s.chunk.encoding != uint8_t(chunkenc::Encoding::kXOR) ||
        (s.copy->deleted && !s.copy->deleted->empty()))
      return false;
  }
  decode_in_lanes(order);
  // Runs as decode_runs makes them; a chunk the lanes decoded stays there.
  float_segments_.clear();
  loose_floats_.clear();
  const Source* prev = nullptr;
  uint32_t run = 0;
  for (uint32_t k : order) {
    const Source& s = sources_[k];
    if (prev && !extends_run(prev, s)) ++run;
    prev = &s;
    if (s.decoder && s.decoder->ok(s.lane)) {
      ++(s.decoder == &lanes_ ? decoded_ahead_ : decoded_by_region_);
      const auto c = s.decoder->column(s.lane);
      float_segments_.push_back({c.t, c.v, chunkenc::XorLaneDecoder::kStride, c.count, run, k, 0});
      continue;
    }
    // Decoded here; where to, once all are (loose_floats_ grows meanwhile).
    const size_t at = loose_floats_.size();
    decode_floats(k, loose_floats_, [&](const std::string& what) { fail_source(labels, k, what); });
    float_segments_.push_back(
        {nullptr, nullptr, 2, uint32_t(loose_floats_.size() - at), run, k, at});
  }
  size_t total = 0;
  for (FloatSegment& g : float_segments_) {
    if (!g.t) {
      const FloatSample* x = loose_floats_.data() + g.loose_at;
      g.t = reinterpret_cast<const uint64_t*>(&x->t), g.v = &x->v_bits;
    }
    total += g.n;
  }
  // Empty segments would end a run early in the merge below; each run's
  // first segment is found once they are gone.
  std::erase_if(float_segments_, [](const FloatSegment& g) { return g.n == 0; });
  float_run_starts_.clear();
  for (size_t j = 0; j < float_segments_.size(); ++j)
    if (j == 0 || float_segments_[j].run != float_segments_[j - 1].run)
      float_run_starts_.push_back(uint32_t(j));
  float_run_starts_.push_back(uint32_t(float_segments_.size()));
  const size_t runs = float_run_starts_.size() - 1;
  // Merged after the earlier regions whose chunks still wait for lanes, as
  // merge_chain does.
  if (!rechunker_.reads_kept_samples()) chained_floats_.clear(), chained_.clear();
  const size_t from = chained_floats_.size();
  if (from + total > chained_floats_.capacity()) {
    rechunker_.hold_waiting_chunks();
    chained_floats_.reserve(std::max(from + total, 2 * chained_floats_.capacity()));
  }
  auto run_segments = [&](size_t r) {
    return std::span<const FloatSegment>(float_segments_)
        .subspan(float_run_starts_[r], float_run_starts_[r + 1] - float_run_starts_[r]);
  };
  if (runs == 2) {
    chained_floats_.resize(from + total);
    FloatSample* end =
        chain_merge_segments(run_segments(0), run_segments(1), chained_floats_.data() + from);
    chained_floats_.resize(size_t(end - chained_floats_.data()));
  } else {
    // One run or more than two (a third replica, overlapping chunks of one):
    // copied out and merged the general way.
    if (float_runs_.size() < runs) float_runs_.resize(runs);
    for (size_t r = 0; r < runs; ++r) {
      float_runs_[r].clear();
      for (const FloatSegment& g : run_segments(r))
        for (uint32_t k = 0; k < g.n; ++k)
          float_runs_[r].push_back({int64_t(g.t[k * g.stride]), g.v[k * g.stride]});
    }
    chain_merge_append(std::span<const FloatRun>(float_runs_.data(), runs), chained_floats_);
  }
  const auto merged = std::span<const FloatSample>(chained_floats_).subspan(from);
  find_whole_chunks(merged);
  rechunker_.add_floats_kept(merged, whole_, source_chunks_, out);
  return true;
}

void SeriesMerger::find_whole_chunks(std::span<const FloatSample> merged) {
  // A source's samples lie whole and alone in the merge when no run
  // before its own (those win on equal timestamps) has a sample within
  // its first and last timestamps, and the merge holds no more samples
  // between those than it has: what the tags of tagged samples would show.
  whole_.clear();
  for (const FloatSegment& g : float_segments_) {
    if (g.n != sources_[g.source].chunk.num_samples) continue;
    const int64_t first = g.first_t(), last = g.last_t();
    bool alone = true;
    for (size_t e = 0; e < float_segments_.size() && float_segments_[e].run < g.run && alone; ++e) {
      const FloatSegment& earlier = float_segments_[e];
      if (earlier.last_t() < first || earlier.first_t() > last) continue;
      const uint32_t k = first_not_before(earlier, first);
      alone = k == earlier.n || int64_t(earlier.t[k * earlier.stride]) > last;
    }
    if (!alone) continue;
    const auto lo = std::partition_point(merged.begin(), merged.end(),
                                         [first](const FloatSample& x) { return x.t < first; });
    const size_t at = size_t(lo - merged.begin());
    // The same samples, in case a chunk's own are out of order (a corrupt
    // input): then its run is too, and the searches above mean nothing.
    if (merged.size() - at < g.n || (at + g.n < merged.size() && merged[at + g.n].t <= last))
      continue;
    bool same = true;
    for (uint32_t k = 0; k < g.n && same; ++k)
      same = uint64_t(merged[at + k].t) == g.t[k * g.stride] &&
             merged[at + k].v_bits == g.v[k * g.stride];
    if (same) whole_.push_back({at, g.source});
  }
  std::sort(
      whole_.begin(), whole_.end(),
      [](const Rechunker::WholeChunk& a, const Rechunker::WholeChunk& b) { return a.at < b.at; });
  // They cannot overlap unless a corrupt input's chunks of one run do
  // (their metas lying about their times): then only the first is whole.
  size_t kept = 0, end = 0;
  for (const Rechunker::WholeChunk& w : whole_) {
    if (kept > 0 && w.at < end) continue;
    whole_[kept++] = w;
    end = w.at + sources_[w.source].chunk.num_samples;
  }
  whole_.resize(kept);
}

}  // namespace promblock::merge
