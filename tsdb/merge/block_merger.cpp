#include "tsdb/merge/block_merger.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <mutex>
#include <set>

#include "tsdb/base/error.h"
#include "tsdb/base/ordered_parallel.h"
#include "tsdb/base/parallel_for.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/merge/chunk_bytes.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/merge/series_stream.h"
#include "tsdb/model/labels.h"
#include "tsdb/query/label_merge.h"

namespace promblock::merge {

namespace {

// Batches small enough to keep memory flat, large enough to keep the
// hand-off between threads cheap. The batches in flight are memory touched
// for the first time as a merge starts (on a VM about 10 us a page), which
// weighs on short merges: a replica pair's small merge ran 3-5 % faster
// with 512 chunks than with 1024.
constexpr size_t kBatchSeries = 1024, kMinBatchChunks = 512, kMaxBatchChunks = 1024;
// A batch reads its chunks with a pread per input: a fortnight's 48-input
// jobs, four chunks of each input per series, made 240 000 of them with
// 512-chunk batches, ten of a few kB for every thousand input samples
// against a replica pair's one in twenty thousand. At least this many
// chunks per input and batch: 768 there, 1-3 % faster in alternating runs
// for 1 MB more memory (1024 gave 5 MB more); a day's 24 inputs keep 512.
constexpr size_t kBatchChunksPerInput = 16;

size_t batch_chunks(size_t inputs) {
  return std::clamp(kBatchChunksPerInput * inputs, kMinBatchChunks, kMaxBatchChunks);
}

// Chunks of unread copies (linked inputs) cost a batch only their metas:
// a level's 14d job holds 1 344 per series, and batched by batch_chunks()
// it handed one series at a time to a worker with next to nothing to do,
// waking it for each (a futex wake is a hypercall here: 15 % of the job's
// CPU samples).
constexpr size_t kBatchUnreadChunks = 8192;

// One output series: its copies in the inputs, then its merged chunks.
struct SeriesJob {
  Labels labels;
  std::vector<SeriesCopy> copies;
  std::vector<ChunkData> chunks;
  // Its chunks go in unread where they lie, by the copies' metas
  // (SeriesMerger::take_in_place); `chunks` is then empty, and their part
  // of the index entry is encoded on the worker (a 14d job's main thread
  // had decoded, remapped and encoded 1.3 M chunk metas on its own).
  bool in_place = false;
  BlockWriter::InPlaceChunks in_place_chunks;
};

// Bytes of one chunk segment of an input that a batch reads: its chunks'
// offsets there. A block whose chunk segments were linked from several
// blocks holds a series' chunks in several segments, one span each.
struct ChunkSpan {
  size_t segment = 0;
  uint64_t first = 0, last = 0;  // offsets of the first and the last chunk
  uint64_t count = 0;            // chunks
};

// The spans of one input, by segment in the order first met.
struct InputSpans {
  std::vector<ChunkSpan> spans;
  size_t last_used = 0;   // consecutive chunks mostly share a segment
  uint64_t next_ref = 0;  // the input's first chunk after the batch, if known

  void clear() { spans.clear(), last_used = 0, next_ref = 0; }
  void add(uint64_t ref) {
    size_t seg = size_t(chunks::ref_segment_index(ref));
    uint64_t off = chunks::ref_offset(ref);
    if (last_used >= spans.size() || spans[last_used].segment != seg) {
      last_used = 0;
      while (last_used < spans.size() && spans[last_used].segment != seg) ++last_used;
      if (last_used == spans.size()) spans.push_back({seg, off, off, 0});
    }
    ChunkSpan& s = spans[last_used];
    ++s.count;
    s.first = std::min(s.first, off);
    s.last = std::max(s.last, off);
  }
};

// Read past the last chunk's offset, for its record: twice the average of
// the others (a longer one is read from the mapping), at least 1 kB, and
// at most more than a float chunk of 120 samples takes. With hundreds of
// inputs, each adds this to every batch in flight.
constexpr uint64_t kMinWindowTail = 1024, kMaxWindowTail = 4 * 1024;

uint64_t window_tail(const ChunkSpan& s) {
  if (s.count < 2) return kMaxWindowTail;
  return std::clamp(2 * (s.last - s.first) / (s.count - 1), kMinWindowTail, kMaxWindowTail);
}

// Where a window over span s ends: the tail above, or sooner where the
// next chunk the input holds after the batch (next_ref, 0 if unknown)
// starts before that in the same segment: records do not overlap, so the
// last one ends there at the latest. Batches of a merge of many inputs
// take a few kB of each, and the tails were a seventh of what a 48-input
// job read.
uint64_t window_end(const ChunkSpan& s, uint64_t next_ref) {
  uint64_t end = s.last + window_tail(s);
  if (next_ref && chunks::ref_segment_index(next_ref) == s.segment) {
    const uint64_t next = chunks::ref_offset(next_ref);
    if (next > s.last) end = std::min(end, next);
  }
  return end;
}
// Every merge reads its chunks through windows, even of one or two inputs:
// reading them from the mapping takes a page fault per large folio (Linux
// 6.18 maps a whole folio per fault), which measured 10-15 % slower on a
// replica pair, chain and penalty alike, for 1-3 MB less resident memory.
// Series whose chunks are far apart (replica labels removed reorder them)
// are read from the mapping rather than copying what lies between.
constexpr uint64_t kMaxWindow = 8 << 20;

// What merging a batch counted, added to the result as it is written.
struct BatchCounts {
  uint64_t chunks_copied = 0, chunks_reencoded = 0, chunks_unread = 0, samples_in = 0;
  SampleCounts unread_read;
};

// Batches are reused once written (ordered_parallel.h): jobs, copies and
// buffers keep their memory, and fill() resets what it uses.
struct Batch {
  std::vector<SeriesJob> jobs;
  std::vector<InputSpans> spans;                                  // per input block
  std::vector<std::vector<chunks::ChunkReader::Window>> windows;  // per input block
  uint64_t copies_skipped = 0;                                    // series of other shards
  ChunkBytes chunk_bytes;  // the re-encoded chunks' bytes, until written
  BatchCounts counts;
  std::vector<BlockWriter::LinkedChunks> linked_parts;  // scratch of encode_in_place
  std::vector<index::ChunkMeta> linked_metas;           // scratch of encode_in_place
  std::vector<uint32_t> last_series_ref;                // per input block: highest series ref read
};

// The output's meta.json: lineage of the inputs and, when any input is a
// Thanos block, a Thanos section for the deduplicated group.
BlockMeta output_meta(const std::vector<MergeInput>& inputs, const ReplicaRules& rules,
                      std::map<std::string, std::string> group, const MergeOptions& opts) {
  BlockMeta m;
  m.min_time = inputs[0].block.meta.min_time;
  m.max_time = inputs[0].block.meta.max_time;
  int level = 0;
  std::set<std::string> sources;
  bool thanos = opts.thanos_section;
  for (const auto& in : inputs) {
    const auto& im = in.block.meta;
    m.min_time = std::min(m.min_time, im.min_time);
    m.max_time = std::max(m.max_time, im.max_time);
    level = std::max(level, im.level);
    if (im.sources.empty()) sources.insert(im.ulid);
    sources.insert(im.sources.begin(), im.sources.end());
    m.parents.push_back({im.ulid, im.min_time, im.max_time});
    thanos |= !im.thanos.is_null();
  }
  m.level = level + 1;
  m.sources.assign(sources.begin(), sources.end());
  std::vector<const BlockMeta*> metas;
  for (const auto& in : inputs) metas.push_back(&in.block.meta);
  m.hints = merged_hints(metas);
  if (opts.shard) {
    // Split output is marked even for plain Prometheus inputs: the label
    // keeps later runs from mixing shards.
    thanos = true;
    group[kShardLabel] = shard_label_value(*opts.shard);
  }
  m.ulid = opts.ulid;
  if (thanos) {
    nlohmann::ordered_json labels = nlohmann::ordered_json::object();
    for (const auto& [k, v] : group) labels[k] = v;
    // Thanos needs non-empty external labels to group blocks.
    if (labels.empty() && !rules.labels().empty()) labels[rules.labels()[0]] = "deduped";
    m.thanos = {{"labels", labels}, {"downsample", {{"resolution", 0}}}, {"source", "promblock"}};
  }
  return m;
}

// Union of the inputs' symbol tables (plus labels added in mode none).
std::vector<std::string_view> symbol_union(const std::vector<std::unique_ptr<BlockReader>>& blocks,
                                           const std::vector<std::string>& extra) {
  std::vector<std::string_view> all;
  for (const auto& b : blocks)
    for (uint32_t i = 0; i < b->index().symbol_count(); ++i) all.push_back(b->index().symbol(i));
  for (const auto& s : extra) all.push_back(s);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

// Registers the opened inputs' replicas with `rules`; in mode none the
// replica labels that series get are collected as extra symbols.
void register_inputs(const std::vector<MergeInput>& inputs, const OpenedInputs& blocks,
                     DedupMode mode, ReplicaRules& rules, MergeResult& result,
                     std::vector<std::string>& extra_symbols) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const MergeInput& in = inputs[i];
    rules.register_block(*blocks[i], in.source_index);
    result.inputs.push_back(in.block.meta.ulid);
    if (mode == DedupMode::kNone)
      for (const auto& [k, v] : in.block.meta.external_labels())
        if (rules.is_replica_label(k)) extra_symbols.push_back(k), extra_symbols.push_back(v);
  }
  rules.assign_ranks();
}

// Walks the inputs' series in output label order and fills batches with
// the copies of each output series (chunk metas only, no chunk data).
class BatchProducer {
 public:
  BatchProducer(const std::vector<std::unique_ptr<BlockReader>>& blocks,
                const std::vector<MergeInput>& inputs, const ReplicaRules& rules,
                const MergeOptions& opts)
      : shard_(opts.shard),
        batch_chunks_(batch_chunks(blocks.size())),
        merge_(open_streams(blocks, inputs, rules, opts.mode)) {}

  uint64_t series_in() const { return series_in_; }
  uint64_t chunks_in() const { return chunks_in_; }
  // Which inputs' copies leave their chunks unread (SeriesCopy::unread).
  void set_unread(std::vector<bool> unread) { unread_ = std::move(unread); }

  // False when the inputs are exhausted and the batch holds nothing.
  bool fill(Batch& batch) {
    batch.last_series_ref.assign(streams_.size(), 0);
    batch.spans.resize(streams_.size());  // keeping their memory
    for (auto& s : batch.spans) s.clear();
    batch.copies_skipped = 0;
    // Sized before the copies point into it; a reused batch keeps the buffers.
    batch.windows.resize(streams_.size());
    size_t chunks = 0, unread_chunks = 0, series = 0;
    while (series < kBatchSeries && chunks < batch_chunks_ && unread_chunks < kBatchUnreadChunks &&
           merge_.next()) {
      if (shard_ && labels_hash(merge_.labels()) % shard_->count != shard_->index)
        skip_series(batch);
      else
        take_series(batch, series++, chunks, unread_chunks);
    }
    batch.jobs.resize(series);
    chunks_in_ += chunks + unread_chunks;
    for (size_t i = 0; i < streams_.size(); ++i)
      if (merge_.positioned(i)) batch.spans[i].next_ref = streams_[i]->first_chunk_ref();
    return series > 0 || batch.copies_skipped > 0;
  }

 private:
  std::vector<SeriesStream*> open_streams(const std::vector<std::unique_ptr<BlockReader>>& blocks,
                                          const std::vector<MergeInput>& inputs,
                                          const ReplicaRules& rules, DedupMode mode) {
    std::vector<SeriesStream*> children;
    for (size_t i = 0; i < blocks.size(); ++i) {
      streams_.push_back(
          std::make_unique<SeriesStream>(*blocks[i], inputs[i].source_index, rules, mode));
      clusters_.push_back(inputs[i].cluster);
      series_in_ += streams_.back()->series_count();
      children.push_back(streams_.back().get());
    }
    return children;
  }

  // Another shard's series: its copies are stepped over unread.
  void skip_series(Batch& batch) {
    for (size_t i : merge_.group()) {
      do ++batch.copies_skipped;
      while (merge_.step(i));
    }
  }

  // Makes the current output series the batch's job n (reusing what a
  // job there holds); adds its chunks to `chunks` or, those of unread
  // copies, to `unread_chunks`.
  void take_series(Batch& batch, size_t n, size_t& chunks, size_t& unread_chunks) {
    if (n == batch.jobs.size()) batch.jobs.emplace_back();
    SeriesJob& job = batch.jobs[n];
    job.labels = merge_.labels();
    size_t copies = 0;
    for (size_t i : merge_.group()) {
      do {
        const SeriesStream& s = merge_.child(i);
        if (copies == job.copies.size()) job.copies.emplace_back();
        SeriesCopy& c = job.copies[copies++];
        c.deleted = nullptr;
        c.windows = &batch.windows[i];
        c.block = &s.block();
        c.replica_rank = s.replica_rank();
        c.cluster = clusters_[i];
        c.unread = i < unread_.size() && unread_[i];
        s.chunks(c.chunks, scratch_);
        batch.last_series_ref[i] = std::max(batch.last_series_ref[i], s.ref());
        if (auto t = s.block().tombstones().find(s.ref()); t != s.block().tombstones().end())
          c.deleted = &t->second;
        if (!c.unread)  // read only if it must be decoded, from the mapping
          for (const auto& m : c.chunks) batch.spans[i].add(m.ref);
        (c.unread ? unread_chunks : chunks) += c.chunks.size();
      } while (merge_.step(i));
    }
    job.copies.resize(copies);
  }

  std::optional<SeriesShard> shard_;
  size_t batch_chunks_;
  std::vector<std::unique_ptr<SeriesStream>> streams_;
  std::vector<uint32_t> clusters_;  // by stream
  std::vector<bool> unread_;        // by stream
  uint64_t series_in_ = 0, chunks_in_ = 0;
  LabelMerge<SeriesStream> merge_;
  Labels scratch_;
};

// Reads each input's chunks of the batch in one piece per segment (on the
// worker thread, in parallel with the other batches), into the windows its
// copies point at. A window left empty sends them to the mapping.
void read_windows(Batch& batch, const std::vector<std::unique_ptr<BlockReader>>& blocks) {
  for (size_t i = 0; i < batch.windows.size(); ++i) {
    const auto& spans = batch.spans[i].spans;
    auto& windows = batch.windows[i];
    windows.resize(spans.size());  // a reused batch keeps the buffers
    for (size_t k = 0; k < spans.size(); ++k) {
      const ChunkSpan& s = spans[k];
      // A ref naming no segment is reported by the mapping's reader.
      if (s.last - s.first > kMaxWindow || s.segment >= blocks[i]->chunks().segment_count()) {
        windows[k].segment = s.segment;
        windows[k].bytes.clear();
      } else {
        blocks[i]->chunks().read_window(s.segment, s.first, window_end(s, batch.spans[i].next_ref),
                                        windows[k]);
      }
    }
  }
}

// The index entry's chunk part of a series taken in place: writer only
// reads the segments it linked before the merge started.
void encode_in_place(Batch& batch, SeriesJob& job, const BlockWriter& writer) {
  batch.linked_parts.clear();
  for (const auto& c : job.copies) batch.linked_parts.push_back({&c.block->chunks(), c.chunks});
  writer.encode_in_place(batch.linked_parts, job.in_place_chunks, batch.linked_metas);
}

// Merges the batch's series, each into its job (or in place).
void merge_series(Batch& batch, SeriesMerger& merger, const BlockWriter& writer) {
  // A few series at a time are read and decoded ahead (SeriesMerger::read_ahead).
  constexpr size_t kMaxAhead = 64;
  std::span<SeriesJob> jobs(batch.jobs);
  std::span<const SeriesCopy> ahead[kMaxAhead];
  for (size_t j = 0; j < jobs.size();) {
    const size_t n = std::min(kMaxAhead, jobs.size() - j);
    for (size_t k = 0; k < n; ++k) ahead[k] = jobs[j + k].copies;
    for (size_t end = j + merger.read_ahead(std::span(ahead, n)); j < end; ++j) {
      SeriesJob& job = jobs[j];
      job.in_place = merger.take_in_place(job.copies);
      if (job.in_place) {
        job.chunks.clear();
        encode_in_place(batch, job, writer);
      } else {
        merger.merge_keeping(job.labels, job.copies, job.chunks);
      }
    }
  }
}

// The series mergers of a merge's threads. A merger's scratch (decoded
// rows, runs, the encoders' buffers: 1-2 MB on a level's long series) is
// needed only while it merges a batch, and a written batch needs only its
// chunks' bytes (Batch::chunk_bytes): a merger is taken per batch and given
// back, so there are as many as threads merging at once, not one for each
// batch in flight.
class MergerPool {
 public:
  MergerPool(DedupMode mode, OutputEncodings encodings) : mode_(mode), encodings_(encodings) {}

  std::unique_ptr<SeriesMerger> take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        auto m = std::move(free_.back());
        free_.pop_back();
        return m;
      }
    }
    return std::make_unique<SeriesMerger>(mode_, encodings_);
  }
  void give_back(std::unique_ptr<SeriesMerger> m) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(m));
  }

 private:
  DedupMode mode_;
  OutputEncodings encodings_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SeriesMerger>> free_;
};

void merge_batch(Batch& batch, const std::vector<std::unique_ptr<BlockReader>>& blocks,
                 MergerPool& mergers, const BlockWriter& writer) {
  read_windows(batch, blocks);
  auto merger = mergers.take();
  merger->store_chunks_in(&batch.chunk_bytes);
  merger->reset();
  merge_series(batch, *merger, writer);
  batch.counts = {merger->chunks_copied(), merger->chunks_reencoded(), merger->chunks_unread(),
                  merger->samples_in(), merger->unread_read()};
  merger->store_chunks_in(nullptr);
  mergers.give_back(std::move(merger));
}

// Writes merged batches in order, counts them and reports progress.
class BatchConsumer {
 public:
  BatchConsumer(const std::vector<std::unique_ptr<BlockReader>>& blocks, BlockWriter& writer,
                const MergeOptions& opts, MergeResult& result)
      : blocks_(blocks), writer_(writer), opts_(opts), result_(result) {}

  void write(Batch& batch) {
    copies_done_ += batch.copies_skipped;
    for (const auto& job : batch.jobs) {
      if (job.in_place) {
        if (job.in_place_chunks.count) writer_.add_series_in_place(job.labels, job.in_place_chunks);
      } else if (!job.chunks.empty())  // else all deleted
        writer_.add_series(job.labels, job.chunks);
      copies_done_ += job.copies.size();
      for (const auto& c : job.chunks) bytes_done_ += c.data.size();
    }
    if (opts_.progress) opts_.progress(copies_done_, result_.series_in, bytes_done_);
    result_.chunks_copied += batch.counts.chunks_copied;
    result_.chunks_reencoded += batch.counts.chunks_reencoded;
    result_.samples_in += batch.counts.samples_in;
    result_.chunks_unread += batch.counts.chunks_unread;
    unread_read_ += batch.counts.unread_read;
    // Input chunks and series entries are read roughly in file order: let
    // go of the pages behind, so that resident memory does not grow with
    // the input.
    for (size_t i = 0; i < blocks_.size(); ++i) {
      for (const ChunkSpan& s : batch.spans[i].spans)
        blocks_[i]->chunks().release_before(chunks::make_chunk_ref(s.segment, s.last));
      if (batch.last_series_ref[i])
        blocks_[i]->index().release_series_before(batch.last_series_ref[i]);
    }
  }

  // Samples of unread copies' chunks that were decoded after all.
  const SampleCounts& unread_read() const { return unread_read_; }

 private:
  const std::vector<std::unique_ptr<BlockReader>>& blocks_;
  BlockWriter& writer_;
  const MergeOptions& opts_;
  MergeResult& result_;
  uint64_t copies_done_ = 0, bytes_done_ = 0;
  SampleCounts unread_read_;
};

// Links the chunk segments of the inputs that may share them into the
// output, where every chunk of theirs goes there unchanged: no input
// overlaps another in time (nothing to deduplicate), none has tombstones,
// none is split by shard, and chunks keep their encodings.
std::vector<bool> link_unchanged_inputs(const std::vector<MergeInput>& inputs,
                                        const std::vector<std::unique_ptr<BlockReader>>& blocks,
                                        const MergeOptions& opts, BlockWriter& writer) {
  std::vector<bool> linked(inputs.size(), false);
  if (opts.shard || opts.encodings != OutputEncodings::kKeep) return linked;
  std::vector<size_t> by_time(inputs.size());
  for (size_t i = 0; i < by_time.size(); ++i) by_time[i] = i;
  std::sort(by_time.begin(), by_time.end(), [&](size_t a, size_t b) {
    return inputs[a].block.meta.min_time < inputs[b].block.meta.min_time;
  });
  for (size_t k = 1; k < by_time.size(); ++k)
    if (inputs[by_time[k]].block.meta.min_time < inputs[by_time[k - 1]].block.meta.max_time)
      return linked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].may_link || !blocks[i]->tombstones().empty()) continue;
    // Another file system: every later one most likely too.
    if (!writer.link_chunks_of(blocks[i]->chunks())) break;
    linked[i] = true;
  }
  return linked;
}

// Whether a block's stats count its samples by kind, as the output's must:
// then a linked block's chunks need not be read to count them.
bool counts_samples_by_kind(const BlockStats& s) {
  return s.num_samples > 0 && s.num_float_samples + s.num_histogram_samples == s.num_samples;
}

}  // namespace

void check_one_group(const std::vector<MergeInput>& inputs,
                     const std::vector<std::string>& replica_labels,
                     const std::string& ignore_label) {
  if (inputs.empty()) return;
  ReplicaRules rules(replica_labels);
  auto group_of = [&](const BlockMeta& m) {
    auto g = rules.group_labels(m);
    if (!ignore_label.empty()) g.erase(ignore_label);
    return g;
  };
  // Blocks of different groups must never be merged.
  auto group = group_of(inputs[0].block.meta);
  for (const auto& in : inputs) {
    auto g = group_of(in.block.meta);
    if (g != group)
      fail(in.block.dir + "/meta.json", "external labels " + label_map_text(g) + " differ from " +
                                            label_map_text(group) + " of " + inputs[0].block.dir +
                                            " beyond replica labels: they are different groups");
  }
  // Nor blocks Prometheus 3.x keeps apart (compaction hints, meta.h).
  int cls = compaction_class(inputs[0].block.meta);
  for (const auto& in : inputs)
    if (int c = compaction_class(in.block.meta); c != cls)
      fail(in.block.dir + "/meta.json",
           "a block of " + std::string(compaction_class_name(c)) + " cannot be merged with " +
               inputs[0].block.dir + ", a block of " + std::string(compaction_class_name(cls)) +
               " (Prometheus keeps such blocks apart)");
}

OpenedInputs open_input_blocks(const std::vector<MergeInput>& inputs) {
  // Side by side where there are many (a compaction level's dozens of
  // blocks: reading their indexes' tables and tombstones took 2-3 % of a
  // fortnight's compaction, all of it before the merge starts).
  OpenedInputs blocks(inputs.size());
  std::vector<std::exception_ptr> errors(inputs.size());
  constexpr size_t kMinParallelOpen = 4;
  const size_t threads = inputs.size() >= kMinParallelOpen ? default_thread_count() : 1;
  parallel_for(inputs.size(), threads, [&](size_t i) {
    try {
      blocks[i] = std::make_unique<BlockReader>(inputs[i].block.dir, inputs[i].block.meta);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return blocks;
}

MergeResult merge_blocks(const std::vector<MergeInput>& inputs, const MergeOptions& opts,
                         OpenedInputs opened) {
  if (inputs.empty()) throw Error("merge: no input blocks");
  ReplicaRules rules(opts.replica_labels);
  std::string ignore = opts.shard ? kShardLabel : "";
  check_one_group(inputs, opts.replica_labels, ignore);
  auto group = rules.group_labels(inputs[0].block.meta);
  if (!ignore.empty()) group.erase(ignore);

  MergeResult result;
  std::vector<std::string> extra_symbols;
  if (opened.empty()) opened = open_input_blocks(inputs);
  if (opened.size() != inputs.size()) throw Error("merge: inputs opened ahead do not match");
  const OpenedInputs& blocks = opened;
  register_inputs(inputs, blocks, opts.mode, rules, result, extra_symbols);
  BatchProducer producer(blocks, inputs, rules, opts);
  result.series_in = producer.series_in();

  BlockWriter writer(opts.out_dir, output_meta(inputs, rules, group, opts));
  // A linked input's chunks all go into the output where they lie: unless
  // one must be decoded after all, they are not read (their CRCs are not
  // checked either; `promblock verify` does), and its stats count them.
  auto linked = link_unchanged_inputs(inputs, blocks, opts, writer);
  SampleCounts unread_stats;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const BlockStats& s = inputs[i].block.meta.stats;
    linked[i] = linked[i] && counts_samples_by_kind(s);
    if (!linked[i]) continue;
    unread_stats.floats += s.num_float_samples;
    unread_stats.histograms += s.num_histogram_samples;
  }
  producer.set_unread(std::move(linked));
  for (auto s : symbol_union(blocks, extra_symbols)) writer.add_symbol(s);
  BatchConsumer consumer(blocks, writer, opts, result);

  // Series are gathered in label order on this thread, merged in batches on
  // worker threads (on two, this one and a worker), and written in order on
  // this thread again.
  size_t threads = opts.threads ? opts.threads : default_thread_count();
  MergerPool mergers(opts.mode, opts.encodings);
  // Two batches in flight beyond one per thread: with one, the worker ran
  // out of batches while this thread merged one itself (a fifth of a
  // fortnight 2d job's worker time idle). Cheap since batches hold no
  // merger of their own.
  ordered_parallel<Batch>(
      threads, threads + 2, [&](Batch& b) { return producer.fill(b); },
      [&](Batch& b) { merge_batch(b, blocks, mergers, writer); },
      [&](Batch& b) { consumer.write(b); });
  result.chunks_in = producer.chunks_in();
  // Samples of unread chunks, less those decoded after all (and counted).
  auto less = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  uint64_t floats = less(unread_stats.floats, consumer.unread_read().floats);
  uint64_t histograms = less(unread_stats.histograms, consumer.unread_read().histograms);
  writer.add_unread_samples(floats, histograms);
  result.samples_in += floats + histograms;

  if (opts.before_commit) opts.before_commit();
  result.path = writer.commit();
  result.ulid = writer.ulid();
  result.series_out = writer.stats().num_series;
  result.samples_out = writer.stats().num_samples;
  result.chunks_out = writer.stats().num_chunks;
  result.segments_linked = writer.segments_linked();
  result.chunks_linked = writer.chunks_linked();
  return result;
}

}  // namespace promblock::merge
