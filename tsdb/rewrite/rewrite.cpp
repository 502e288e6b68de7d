#include "tsdb/rewrite/rewrite.h"

#include <re2/re2.h>

#include <algorithm>
#include <memory>

#include "tsdb/base/error.h"
#include "tsdb/base/usage_error.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/chunk.h"
#include "tsdb/merge/series_merger.h"
#include "tsdb/query/label_merge.h"
#include "tsdb/query/postings_match.h"
#include "tsdb/query/relabeled_series.h"

namespace promblock::rewrite {

namespace {

bool is_dropped(std::string_view name, const std::vector<std::string>& drop) {
  return std::find(drop.begin(), drop.end(), name) != drop.end();
}

// The output's symbols where its series keep their labels: every name and
// value of a label pair that some kept series carries (read from the
// postings lists, no series decoded). A series whose samples are all
// tombstoned can leave a few unused symbols behind, which readers ignore
// (Prometheus's own compaction keeps every input symbol).
std::vector<std::string_view> kept_symbols(const index::IndexReader& ix,
                                           const roaring::Roaring& kept, bool all_kept) {
  std::vector<std::string_view> out;
  for (std::string_view name : ix.label_names()) {
    ix.for_each_postings(name, [&](std::string_view value, const roaring::Roaring& list) {
      if (all_kept || list.intersect(kept)) {
        out.push_back(name);
        out.push_back(value);
      }
    });
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string_view> relabeled_symbols(const std::vector<RelabeledSeries>& series) {
  std::vector<std::string_view> out;
  for (const auto& e : series)
    for (const auto& l : e.labels) {
      out.push_back(l.name);
      out.push_back(l.value);
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The series to keep and to delete, by the deletion selectors.
struct Selection {
  roaring::Roaring kept, deleted;
};

Selection select_series(const index::IndexReader& ix, const RewriteOptions& opts,
                        RewriteResult& r) {
  Selection s;
  roaring::Roaring all = ix.all_postings();
  for (const auto& d : opts.deletions) s.deleted |= postings_for_matchers(ix, d.matchers);
  s.deleted &= all;
  s.kept = all - s.deleted;
  r.series_in = all.cardinality();
  r.series_deleted = s.deleted.cardinality();
  return s;
}

// Deleted series still count as input.
void count_deleted(const BlockReader& block, const roaring::Roaring& deleted, RewriteResult& r) {
  Labels stored;
  std::vector<index::ChunkMeta> metas;
  for (uint32_t ref : deleted) {
    block.index().series(ref, stored, metas);
    r.chunks_in += metas.size();
    for (const auto& c : metas) {
      auto chunk = block.chunks().chunk(c.ref);
      r.samples_in += chunkenc::header_sample_count(chunk.encoding, chunk.data);
    }
  }
}

// The kept series under their new labels, sorted by them.
std::vector<RelabeledSeries> relabel_kept(const std::string& block_dir,
                                          const index::IndexReader& ix,
                                          const roaring::Roaring& kept,
                                          const std::vector<std::string>& drop) {
  return sort_relabeled(ix, kept, [&](uint32_t, const Labels& stored, Labels& out) {
    out = drop_labels(stored, drop);
    if (out.empty()) throw NoLabelsLeft(block_dir + "/index", stored);
    return uint32_t(0);
  });
}

// Writes the kept series to the new block; copies of one output series are
// chain-merged, the first in the order of their old labels winning ties.
class SeriesWriter {
 public:
  SeriesWriter(const BlockReader& block, BlockWriter& writer, RewriteResult& r)
      : block_(block), writer_(writer), r_(r) {}

  // Series keeping their labels: in index order, one copy each.
  void write_kept(const roaring::Roaring& kept) {
    for (uint32_t ref : kept) {
      copies_.clear();
      add_copy(ref, 0);
      emit(labels_);
    }
  }

  // Series under new labels: the copies that became equal are merged.
  void write_relabeled(std::vector<RelabeledSeries> series) {
    RelabeledSeriesStream stream(std::move(series));
    LabelMerge<RelabeledSeriesStream> merge({&stream});
    while (merge.next()) {
      copies_.clear();
      uint32_t rank = 0;  // on equal timestamps the lowest rank wins
      do add_copy(stream.current().ref, rank++);
      while (merge.step(0));
      r_.series_merged += rank - 1;
      emit(merge.labels());
    }
  }

  void finish() {
    r_.samples_in += merger_.samples_in();
    r_.chunks_copied = merger_.chunks_copied();
    r_.chunks_reencoded = merger_.chunks_reencoded();
  }

 private:
  void add_copy(uint32_t ref, uint32_t rank) {
    auto& c = copies_.emplace_back();
    c.block = &block_;
    c.replica_rank = rank;
    block_.index().series(ref, labels_, c.chunks);
    if (auto t = block_.tombstones().find(ref); t != block_.tombstones().end())
      c.deleted = &t->second;
    r_.chunks_in += c.chunks.size();
  }
  void emit(const Labels& labels) {
    // One copy: chunks are copied verbatim unless tombstones touch them.
    merger_.merge(labels, copies_, out_);
    if (!out_.empty()) writer_.add_series(labels, out_);  // else every sample was deleted
  }

  const BlockReader& block_;
  BlockWriter& writer_;
  RewriteResult& r_;
  merge::SeriesMerger merger_{merge::DedupMode::kChain};
  std::vector<merge::SeriesCopy> copies_;
  std::vector<ChunkData> out_;
  Labels labels_;  // stored labels of the last copy read
};

}  // namespace

Labels drop_labels(const Labels& labels, const std::vector<std::string>& drop) {
  Labels out;
  out.reserve(labels.size());
  for (const auto& l : labels)
    if (!is_dropped(l.name, drop)) out.push_back(l);
  return out;
}

nlohmann::ordered_json thanos_rewrite_record(const BlockMeta& input, const RewriteOptions& opts) {
  // Thanos's metadata.Rewrite: {sources, deletions_applied, relabels_applied},
  // each omitted when empty. A deletion request is {matchers: [matcher
  // strings]} (no intervals: whole series are deleted); a dropped label is
  // the labeldrop relabel config Thanos's YAML defaults would give.
  nlohmann::ordered_json r = nlohmann::ordered_json::object();
  std::vector<std::string> sources = input.sources;
  if (sources.empty()) sources.push_back(input.ulid);
  r["sources"] = sources;
  if (!opts.deletions.empty()) {
    auto dels = nlohmann::ordered_json::array();
    for (const auto& d : opts.deletions) {
      auto matchers = nlohmann::ordered_json::array();
      for (const auto& m : d.matchers) matchers.push_back(m.to_string());
      dels.push_back({{"matchers", matchers}});
    }
    r["deletions_applied"] = dels;
  }
  if (!opts.drop_labels.empty()) {
    auto relabels = nlohmann::ordered_json::array();
    for (const auto& l : opts.drop_labels)
      relabels.push_back({{"separator", ";"},
                          {"regex", RE2::QuoteMeta(l)},
                          {"replacement", "$1"},
                          {"action", "labeldrop"}});
    r["relabels_applied"] = relabels;
  }
  return r;
}

BlockMeta output_meta(const BlockMeta& input, const RewriteOptions& opts) {
  BlockMeta m = input;
  m.ulid.clear();
  m.stats = {};
  m.deletable = false;
  m.failed = false;
  if (m.sources.empty()) m.sources.push_back(input.ulid);
  m.parents = {{input.ulid, input.min_time, input.max_time}};
  if (m.thanos.is_object()) {
    auto rewrites = nlohmann::ordered_json::array();
    if (m.thanos.contains("rewrites") && m.thanos["rewrites"].is_array())
      rewrites = m.thanos["rewrites"];
    rewrites.push_back(thanos_rewrite_record(input, opts));
    m.thanos["source"] = "promblock";
    m.thanos.erase("segment_files");  // deprecated list; would be stale
    m.thanos.erase("files");          // BlockWriter lists the new files
    m.thanos["rewrites"] = rewrites;
  }
  return m;
}

NoLabelsLeft::NoLabelsLeft(std::string file, Labels series)
    : Error(file + ": series " + labels_to_string(series) +
            " would have no labels left once the dropped labels are removed"),
      file_(std::move(file)),
      series_(std::move(series)) {}

RewriteResult rewrite_block(const std::string& block_dir, const RewriteOptions& opts) {
  for (const auto& l : opts.drop_labels)
    if (l.empty()) throw UsageError("rewrite: a label name to drop is empty");

  BlockReader block(block_dir);
  const auto& ix = block.index();
  RewriteResult r;
  r.input = block.meta().ulid;
  Selection sel = select_series(ix, opts, r);
  count_deleted(block, sel.deleted, r);

  bool relabel = false;
  for (const auto& l : opts.drop_labels)
    if (!ix.label_values(l).empty()) relabel = true;
  std::vector<RelabeledSeries> relabeled;
  if (relabel) relabeled = relabel_kept(block_dir, ix, sel.kept, opts.drop_labels);

  BlockWriter writer(opts.out_dir, output_meta(block.meta(), opts));
  for (auto s :
       relabel ? relabeled_symbols(relabeled) : kept_symbols(ix, sel.kept, sel.deleted.isEmpty()))
    writer.add_symbol(s);
  SeriesWriter series(block, writer, r);
  if (relabel)
    series.write_relabeled(std::move(relabeled));
  else
    series.write_kept(sel.kept);
  series.finish();

  if (writer.stats().num_series == 0) return r;  // nothing left: no block (writer cleans up)
  r.series_out = writer.stats().num_series;
  r.samples_out = writer.stats().num_samples;
  r.chunks_out = writer.stats().num_chunks;
  r.path = writer.commit();
  r.ulid = writer.ulid();
  r.written = true;
  return r;
}

}  // namespace promblock::rewrite
