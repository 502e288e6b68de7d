#include "tsdb/compact/catalog.h"

#include <algorithm>
#include <filesystem>

#include "tsdb/base/ulid.h"
#include "tsdb/compact/sharding.h"
#include "tsdb/model/labels.h"

namespace promblock::compact {

namespace {

std::vector<std::string> sources_of(const BlockMeta& m) {
  return m.sources.empty() ? std::vector<std::string>{m.ulid} : m.sources;
}

bool is_subset(const std::vector<std::string>& a, const std::set<std::string>& b) {
  return std::all_of(a.begin(), a.end(), [&](const std::string& s) { return b.count(s) > 0; });
}

bool made_by_promblock(const FoundBlock& b) {
  return b.meta.thanos.is_object() && b.meta.thanos.value("source", "") == "promblock";
}

bool live(const FoundBlock& b) { return !b.deletion_marked && !b.no_compact_marked; }

}  // namespace

Catalog::Catalog(const CompactOptions& opts, int64_t now_ms)
    : opts_(opts), rules_(opts.replica_labels), now_(now_ms) {}

bool Catalog::owns_hash(uint64_t hash) const {
  return !opts_.shard || hash % opts_.shard->count == opts_.shard->index;
}

bool Catalog::owns(const BlockMeta& m) const {
  return owns_hash(group_hash(rules_.group_labels(m)));
}

bool Catalog::too_young(const FoundBlock& b) const {
  return ulid_time_ms(b.meta.ulid) > now_ - opts_.consistency_delay_ms;
}

bool Catalog::past_retention(const FoundBlock& b) const {
  return opts_.retention_ms && b.meta.max_time < now_ - *opts_.retention_ms;
}

std::vector<FoundBlock> Catalog::discover(uint32_t source_index) const {
  bool out = source_index == opts_.sources.size();
  auto found = discover_blocks(out ? opts_.out_dir : opts_.sources[source_index]);
  auto labels = opts_.assumed_labels.find(source_index);
  if (labels != opts_.assumed_labels.end())
    for (auto& b : found) assume_external_labels(b.meta, labels->second);
  return found;
}

std::vector<FoundBlock> Catalog::out_blocks() const {
  std::error_code ec;
  if (!std::filesystem::exists(opts_.out_dir, ec)) return {};
  return discover(uint32_t(opts_.sources.size()));
}

void Catalog::load() {
  found_in_sources_.clear();
  for (uint32_t i = 0; i < opts_.sources.size(); ++i) found_in_sources_.push_back(discover(i));
  rebuild();
}

void Catalog::reload_out_dir() { rebuild(); }

void Catalog::rebuild() {
  entries_.clear();
  represented_.clear();
  groups_.clear();
  marks_.clear();
  plan_refs_.clear();
  for (auto& b : load_out_dir())
    entries_.push_back({b, uint32_t(opts_.sources.size()), rules_.group_labels(b.meta), true});
  load_sources();
  build_groups();
}

// The live output blocks to compact; records what each group holds and
// what is to be marked.
std::vector<FoundBlock> Catalog::load_out_dir() {
  auto found = out_blocks();
  for (const auto& b : found) {
    if (b.deletion_marked) continue;
    auto sources = sources_of(b.meta);
    represented_[label_map_text(rules_.group_labels(b.meta))].insert(sources.begin(),
                                                                     sources.end());
  }
  std::vector<FoundBlock> kept;
  for (const auto& b : found) {
    if (!live(b)) continue;
    // In place, blocks not written by promblock may still be arriving.
    if (opts_.sources.empty() && !made_by_promblock(b) && too_young(b)) continue;
    if (past_retention(b)) {
      if (owns(b.meta)) marks_.push_back({b, "older than retention"});
      continue;
    }
    kept.push_back(b);
  }
  // A crash between publishing a block and marking its inputs leaves
  // blocks whose data another block already holds: mark them now.
  std::vector<FoundBlock> out;
  for (const auto& b : kept) {
    if (!redundant(b, kept))
      out.push_back(b);
    else if (owns(b.meta))
      marks_.push_back({b, "its sources are all in another block"});
  }
  return out;
}

void Catalog::load_sources() {
  for (uint32_t i = 0; i < found_in_sources_.size(); ++i)
    for (const auto& b : found_in_sources_[i]) {
      if (!live(b) || too_young(b) || past_retention(b)) continue;
      entries_.push_back({b, i, rules_.group_labels(b.meta), false});
    }
}

// The groups a catalog block is compacted into: its own, or, when split
// compaction applies to it, each of the shards of its group.
std::vector<std::pair<Group, std::optional<merge::SeriesShard>>> Catalog::targets(
    const CatalogEntry& e) const {
  if (opts_.split_shards <= 1 || e.group.count(kShardLabel)) return {{e.group, std::nullopt}};
  std::vector<std::pair<Group, std::optional<merge::SeriesShard>>> out;
  for (uint64_t k = 0; k < opts_.split_shards; ++k) {
    merge::SeriesShard s{k, opts_.split_shards};
    Group g = e.group;
    g[kShardLabel] = shard_label_value(s);
    out.push_back({std::move(g), s});
  }
  return out;
}

void Catalog::build_groups() {
  for (size_t c = 0; c < entries_.size(); ++c) {
    const auto& e = entries_[c];
    std::string own = label_map_text(e.group);
    for (auto& [labels, split] : targets(e)) {
      std::string text = label_map_text(labels);
      uint64_t hash = group_hash(labels);
      if (!owns_hash(hash)) continue;
      // Data the group already holds (for sources and split inputs).
      bool member_of_own = e.in_out && text == own;
      if (!member_of_own && is_subset(sources_of(e.block.meta), represented_[text])) continue;
      auto [it, fresh] = groups_.try_emplace(text);
      if (fresh) it->second = OutGroup{labels, text, hash, split, {}};
      it->second.members.push_back(c);
    }
  }
}

void Catalog::keep_groups(const std::set<std::string>& texts) {
  std::erase_if(groups_, [&](const auto& kv) { return !texts.count(kv.first); });
}

std::set<std::string> Catalog::represented(const std::string& group_text) const {
  auto it = represented_.find(group_text);
  return it == represented_.end() ? std::set<std::string>{} : it->second;
}

std::vector<PlanBlock> Catalog::plan_blocks() {
  std::vector<PlanBlock> blocks;
  plan_refs_.clear();
  for (const auto& [text, g] : groups_)
    for (size_t c : g.members) {
      const auto& e = entries_[c];
      bool in_group = e.in_out && label_map_text(e.group) == text;
      // Prometheus 3.x never compacts partial-view blocks (stale or
      // selected series only) with other blocks: plan each class apart.
      std::string plan_group = text;
      if (int cls = compaction_class(e.block.meta))
        plan_group.append("\n").append(compaction_class_name(cls));
      blocks.push_back({e.block.meta.ulid, e.block.meta.min_time, e.block.meta.max_time, in_group,
                        std::move(plan_group)});
      plan_refs_.push_back({c, &g});
    }
  return blocks;
}

const CatalogEntry& Catalog::plan_entry(size_t plan_index) const {
  return entries_[plan_refs_[plan_index].first];
}

const OutGroup& Catalog::plan_group(size_t plan_index) const {
  return *plan_refs_[plan_index].second;
}

bool Catalog::replaced_by_job(size_t plan_index) const {
  const CatalogEntry& e = plan_entry(plan_index);
  return e.in_out && label_map_text(e.group) == plan_group(plan_index).text;
}

std::vector<MarkRequest> Catalog::redundant_out_blocks() const {
  std::vector<FoundBlock> blocks;
  for (auto& b : out_blocks())
    if (live(b)) blocks.push_back(std::move(b));
  std::vector<MarkRequest> out;
  for (const auto& b : blocks)
    if (owns(b.meta) && redundant(b, blocks))
      out.push_back({b, "its sources are all in other blocks"});
  return out;
}

// True when other live blocks hold all of b's data: one block of its own
// group with all its sources, or (b unsplit) a block with all its
// sources in every shard of one split of its group.
bool Catalog::redundant(const FoundBlock& b, const std::vector<FoundBlock>& blocks) const {
  auto mine = sources_of(b.meta);
  Group group = rules_.group_labels(b.meta);
  bool unsplit = !group.count(kShardLabel);
  std::map<uint64_t, std::set<uint64_t>> shards_holding;  // count -> indexes
  for (const auto& other : blocks) {
    if (other.meta.ulid == b.meta.ulid) continue;
    auto theirs = sources_of(other.meta);
    if (!is_subset(mine, std::set<std::string>(theirs.begin(), theirs.end()))) continue;
    Group og = rules_.group_labels(other.meta);
    if (og == group) {
      // Equal source sets: keep one of them, the newer.
      if (theirs.size() > mine.size() || other.meta.ulid > b.meta.ulid) return true;
      continue;
    }
    auto label = og.find(kShardLabel);
    if (!unsplit || label == og.end()) continue;
    auto shard = parse_shard_label_value(label->second);
    og.erase(label);
    if (!shard || og != group) continue;
    auto& held = shards_holding[shard->count];
    held.insert(shard->index);
    if (held.size() == shard->count) return true;
  }
  return false;
}

}  // namespace promblock::compact
