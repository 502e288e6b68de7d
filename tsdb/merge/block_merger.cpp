#include "tsdb/merge/block_merger.h"

#include <algorithm>
#include <memory>
#include <set>

#include "tsdb/base/error.h"
#include "tsdb/base/ordered_parallel.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/merge/replicas.h"
#include "tsdb/merge/series_stream.h"
#include "tsdb/model/labels.h"

namespace promblock::merge {

namespace {

// Batches small enough to keep memory flat, large enough to keep the
// hand-off between threads cheap.
constexpr size_t kBatchSeries = 1024;
constexpr size_t kBatchChunks = 2048;

// One output series: its copies in the inputs, then its merged chunks.
struct SeriesJob {
  Labels labels;
  std::vector<SeriesCopy> copies;
  std::vector<ChunkData> chunks;
};

struct Batch {
  std::vector<SeriesJob> jobs;
  uint64_t copies_skipped = 0;           // series of other shards
  std::unique_ptr<SeriesMerger> merger;  // owns re-encoded chunk bytes until written
  std::vector<uint64_t> last_chunk_ref;  // per input block: highest chunk ref read
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
  bool thanos = false;
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

MergeResult merge_blocks(const std::vector<MergeInput>& inputs, const MergeOptions& opts) {
  if (inputs.empty()) throw Error("merge: no input blocks");
  ReplicaRules rules(opts.replica_labels);

  std::string ignore = opts.shard ? kShardLabel : "";
  check_one_group(inputs, opts.replica_labels, ignore);
  auto group = rules.group_labels(inputs[0].block.meta);
  if (!ignore.empty()) group.erase(ignore);

  MergeResult result;
  std::vector<std::unique_ptr<BlockReader>> blocks;
  std::vector<std::string> extra_symbols;
  for (const auto& in : inputs) {
    blocks.push_back(std::make_unique<BlockReader>(in.block.dir));
    rules.register_block(*blocks.back(), in.source_index);
    result.inputs.push_back(in.block.meta.ulid);
    if (opts.mode == DedupMode::kNone)
      for (const auto& [k, v] : in.block.meta.external_labels())
        if (rules.is_replica_label(k)) extra_symbols.push_back(k), extra_symbols.push_back(v);
  }
  rules.assign_ranks();

  std::vector<std::unique_ptr<SeriesStream>> streams;
  std::vector<bool> has;
  for (size_t i = 0; i < blocks.size(); ++i) {
    streams.push_back(
        std::make_unique<SeriesStream>(*blocks[i], inputs[i].source_index, rules, opts.mode));
    result.series_in += streams.back()->series_count();
    has.push_back(streams.back()->next());
  }

  BlockWriter writer(opts.out_dir, output_meta(inputs, rules, group, opts));
  for (auto s : symbol_union(blocks, extra_symbols)) writer.add_symbol(s);

  // Series are gathered in label order on this thread, merged in batches on
  // worker threads, and written in order on this thread again.
  auto produce = [&](Batch& batch) {
    batch.last_chunk_ref.assign(blocks.size(), 0);
    size_t chunks_in_batch = 0;
    Labels scratch;
    while (batch.jobs.size() < kBatchSeries && chunks_in_batch < kBatchChunks) {
      // The smallest output labels among the streams: that series' copies.
      int min = -1;
      for (size_t i = 0; i < streams.size(); ++i)
        if (has[i] &&
            (min < 0 || compare_labels(streams[i]->labels(), streams[size_t(min)]->labels()) < 0))
          min = int(i);
      if (min < 0) break;
      if (opts.shard &&
          labels_hash(streams[size_t(min)]->labels()) % opts.shard->count != opts.shard->index) {
        // Another shard's series: step over its copies unread.
        scratch = streams[size_t(min)]->labels();
        for (size_t i = 0; i < streams.size(); ++i)
          while (has[i] && compare_labels(streams[i]->labels(), scratch) == 0) {
            ++batch.copies_skipped;
            has[i] = streams[i]->next();
          }
        continue;
      }
      SeriesJob& job = batch.jobs.emplace_back();
      job.labels = streams[size_t(min)]->labels();
      for (size_t i = 0; i < streams.size(); ++i) {
        // A stream may hold several copies of one output series (replica
        // labels removed within one block).
        while (has[i] && compare_labels(streams[i]->labels(), job.labels) == 0) {
          auto& s = *streams[i];
          SeriesCopy& c = job.copies.emplace_back();
          c.block = &s.block();
          c.replica_rank = s.replica_rank();
          s.block().index().series(s.ref(), scratch, c.chunks);
          if (auto t = s.block().tombstones().find(s.ref()); t != s.block().tombstones().end())
            c.deleted = &t->second;
          for (const auto& m : c.chunks)
            batch.last_chunk_ref[i] = std::max(batch.last_chunk_ref[i], m.ref);
          chunks_in_batch += c.chunks.size();
          has[i] = s.next();
        }
      }
    }
    result.chunks_in += chunks_in_batch;
    return !batch.jobs.empty() || batch.copies_skipped > 0;
  };
  auto process = [&](Batch& batch) {
    batch.merger = std::make_unique<SeriesMerger>(opts.mode, opts.encodings);
    for (auto& job : batch.jobs) batch.merger->merge_keeping(job.labels, job.copies, job.chunks);
  };
  uint64_t copies_done = 0, bytes_done = 0;
  auto consume = [&](Batch& batch) {
    copies_done += batch.copies_skipped;
    for (const auto& job : batch.jobs) {
      if (!job.chunks.empty()) writer.add_series(job.labels, job.chunks);  // else all deleted
      copies_done += job.copies.size();
      for (const auto& c : job.chunks) bytes_done += c.data.size();
    }
    if (opts.progress) opts.progress(copies_done, result.series_in, bytes_done);
    result.chunks_copied += batch.merger->chunks_copied();
    result.chunks_reencoded += batch.merger->chunks_reencoded();
    result.samples_in += batch.merger->samples_in();
    // Input chunks are read roughly in file order: let go of the pages
    // behind, so that resident memory does not grow with the input.
    for (size_t i = 0; i < blocks.size(); ++i)
      if (batch.last_chunk_ref[i]) blocks[i]->chunks().release_before(batch.last_chunk_ref[i]);
  };
  size_t threads = opts.threads ? opts.threads : default_thread_count();
  ordered_parallel<Batch>(threads, threads + 1, produce, process, consume);

  if (opts.before_commit) opts.before_commit();
  result.path = writer.commit();
  result.ulid = writer.ulid();
  result.series_out = writer.stats().num_series;
  result.samples_out = writer.stats().num_samples;
  result.chunks_out = writer.stats().num_chunks;
  return result;
}

}  // namespace promblock::merge
