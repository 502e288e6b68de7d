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
#include "tsdb/query/postings_match.h"

namespace promblock::rewrite {

namespace {

bool is_dropped(std::string_view name, const std::vector<std::string>& drop) {
  return std::find(drop.begin(), drop.end(), name) != drop.end();
}

// A kept series under its output labels (only built when labels are
// dropped: the series must then be re-sorted).
struct Entry {
  Labels labels;
  uint32_t ref;
};

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

std::vector<std::string_view> entry_symbols(const std::vector<Entry>& entries) {
  std::vector<std::string_view> out;
  for (const auto& e : entries)
    for (const auto& l : e.labels) {
      out.push_back(l.name);
      out.push_back(l.value);
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

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

RewriteResult rewrite_block(const std::string& block_dir, const RewriteOptions& opts) {
  for (const auto& l : opts.drop_labels)
    if (l.empty()) throw UsageError("--drop-label: the label name is empty");

  BlockReader block(block_dir);
  const auto& ix = block.index();
  RewriteResult r;
  r.input = block.meta().ulid;

  roaring::Roaring all = ix.all_postings();
  roaring::Roaring deleted;
  for (const auto& d : opts.deletions) deleted |= postings_for_matchers(ix, d.matchers);
  deleted &= all;
  roaring::Roaring kept = all - deleted;
  r.series_in = all.cardinality();
  r.series_deleted = deleted.cardinality();

  Labels stored;
  std::vector<index::ChunkMeta> scratch;
  // Deleted series still count as input.
  for (uint32_t ref : deleted) {
    ix.series(ref, stored, scratch);
    r.chunks_in += scratch.size();
    for (const auto& c : scratch) {
      auto chunk = block.chunks().chunk(c.ref);
      r.samples_in += chunkenc::header_sample_count(chunk.encoding, chunk.data);
    }
  }

  bool relabel = false;
  for (const auto& l : opts.drop_labels)
    if (!ix.label_values(l).empty()) relabel = true;

  // Where labels are dropped, the kept series are re-sorted by their new
  // labels (refs and labels only, no chunk data); a stable sort keeps the
  // copies of one output series in the order of their old labels.
  std::vector<Entry> entries;
  if (relabel) {
    entries.reserve(kept.cardinality());
    for (uint32_t ref : kept) {
      ix.series(ref, stored, scratch);
      Labels out = drop_labels(stored, opts.drop_labels);
      if (out.empty())
        fail(block_dir + "/index", "series " + labels_to_string(stored) +
                                       " would have no labels left after --drop-label");
      entries.push_back({std::move(out), ref});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return labels_less(a.labels, b.labels);
    });
  }

  BlockWriter writer(opts.out_dir, output_meta(block.meta(), opts));
  for (auto s : relabel ? entry_symbols(entries) : kept_symbols(ix, kept, deleted.isEmpty()))
    writer.add_symbol(s);

  merge::SeriesMerger merger(merge::DedupMode::kChain);
  std::vector<merge::SeriesCopy> copies;
  std::vector<ChunkData> out;
  auto add_copy = [&](uint32_t ref, uint32_t rank, Labels& labels) {
    auto& c = copies.emplace_back();
    c.block = &block;
    c.replica_rank = rank;  // on equal timestamps the lowest rank wins
    ix.series(ref, labels, c.chunks);
    if (auto t = block.tombstones().find(ref); t != block.tombstones().end())
      c.deleted = &t->second;
    r.chunks_in += c.chunks.size();
  };
  auto emit = [&](const Labels& labels) {
    // One copy: chunks are copied verbatim unless tombstones touch them.
    merger.merge(labels, copies, out);
    if (!out.empty()) writer.add_series(labels, out);  // else every sample was deleted
  };

  if (!relabel) {
    for (uint32_t ref : kept) {
      copies.clear();
      add_copy(ref, 0, stored);
      emit(stored);
    }
  } else {
    for (size_t i = 0; i < entries.size();) {
      size_t end = i + 1;
      while (end < entries.size() && compare_labels(entries[end].labels, entries[i].labels) == 0)
        ++end;
      copies.clear();
      for (size_t k = i; k < end; ++k) add_copy(entries[k].ref, uint32_t(k - i), stored);
      r.series_merged += end - i - 1;
      emit(entries[i].labels);
      i = end;
    }
  }

  r.samples_in += merger.samples_in();
  r.chunks_copied = merger.chunks_copied();
  r.chunks_reencoded = merger.chunks_reencoded();
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
