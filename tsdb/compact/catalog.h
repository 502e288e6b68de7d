#pragma once
// What a compaction run works from, read from meta.json files and marks
// only: the blocks of the sources and of the output directory, the output
// groups they go into, the sources each group already holds, and the
// output blocks that should be marked for deletion (past retention, or
// holding nothing another block does not). Reading changes nothing on disk.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tsdb/block/discover.h"
#include "tsdb/compact/compactor.h"
#include "tsdb/compact/planner.h"
#include "tsdb/merge/replicas.h"

namespace promblock::compact {

using Group = std::map<std::string, std::string>;

struct CatalogEntry {
  FoundBlock block;
  uint32_t source_index;  // sources.size() for the output directory
  Group group;            // its own: external labels without replica labels
  bool in_out;
};

// The blocks one job writes into: a group of the output directory.
struct OutGroup {
  Group labels;
  std::string text;
  uint64_t hash = 0;
  std::optional<merge::SeriesShard> split;  // set when made by splitting an unsplit group
  std::vector<size_t> members;              // catalog entries
};

// An output block to mark for deletion, and why.
struct MarkRequest {
  FoundBlock block;
  std::string details;
};

class Catalog {
 public:
  Catalog(const CompactOptions& opts, int64_t now_ms);

  // Reads the output directory and the sources (again).
  void load();
  // Reads the output directory again, the sources as load() read them:
  // after locking, what another holder of a group wrote or marked there is
  // seen, without reading every source block's meta.json twice (a
  // fortnight's 338 took 3-4 ms a time).
  void reload_out_dir();
  // Keeps only the named groups (those this process holds locks of).
  void keep_groups(const std::set<std::string>& texts);

  const std::vector<CatalogEntry>& entries() const { return entries_; }
  const std::map<std::string, OutGroup>& groups() const { return groups_; }
  const std::vector<MarkRequest>& marks() const { return marks_; }
  // The source ULIDs the live output blocks of a group hold.
  std::set<std::string> represented(const std::string& group_text) const;

  // The planner's input: a block per group it goes into. Call after the
  // last load() / keep_groups(); plan_entry() and plan_group() map a plan
  // block back.
  std::vector<PlanBlock> plan_blocks();
  const CatalogEntry& plan_entry(size_t plan_index) const;
  const OutGroup& plan_group(size_t plan_index) const;
  // True when a plan block is an output block of the very group it is
  // planned in: the job writing that group replaces it.
  bool replaced_by_job(size_t plan_index) const;

  // Marks and deletions of a block are left to the process owning its own
  // group, so that concurrent shards never race on one block.
  bool owns(const BlockMeta& m) const;
  // Live output blocks whose data other live blocks hold (after a run:
  // inputs split into shards are replaced once every shard holds them).
  std::vector<MarkRequest> redundant_out_blocks() const;

  std::vector<FoundBlock> out_blocks() const;  // none when out_dir is missing

 private:
  bool owns_hash(uint64_t hash) const;
  // The blocks of source `source_index` (out_dir: sources.size()), with
  // the external labels assumed for it.
  std::vector<FoundBlock> discover(uint32_t source_index) const;
  bool too_young(const FoundBlock& b) const;
  bool past_retention(const FoundBlock& b) const;
  bool redundant(const FoundBlock& b, const std::vector<FoundBlock>& live) const;
  void rebuild();
  std::vector<FoundBlock> load_out_dir();
  void load_sources();
  void build_groups();
  std::vector<std::pair<Group, std::optional<merge::SeriesShard>>> targets(
      const CatalogEntry& e) const;

  const CompactOptions& opts_;
  merge::ReplicaRules rules_;
  int64_t now_;
  std::vector<std::vector<FoundBlock>> found_in_sources_;  // by source, as load() found them
  std::vector<CatalogEntry> entries_;
  std::map<std::string, std::set<std::string>> represented_;  // by group text
  std::map<std::string, OutGroup> groups_;
  std::vector<MarkRequest> marks_;
  std::vector<std::pair<size_t, const OutGroup*>> plan_refs_;  // plan block -> entry, group
};

}  // namespace promblock::compact
