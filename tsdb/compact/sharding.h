#pragma once
// Splitting compaction work without a coordinator. Two independent cuts:
//  - jobs between processes: shard I of N takes the output groups whose
//    hash mod N is I;
//  - one group's series between blocks: a split into K writes, per
//    range, K blocks, block k holding the series whose hash mod K is k. The
//    blocks carry the external label __compactor_shard_id__="<k+1>_of_<K>" (as
//    Mimir's split-and-merge compactor), which makes each shard a group of
//    its own in later runs.
// Both hashes are Prometheus's labels.Hash() (see labels.h): of the
// group's external labels without replica labels, and of the series'
// labels as written.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "tsdb/merge/block_merger.h"

namespace promblock::compact {

using merge::kShardLabel;
using merge::shard_label_value;
using ShardOf = merge::SeriesShard;

// "I/N" with 0 <= I < N; nullopt otherwise.
std::optional<ShardOf> parse_shard_spec(const std::string& text);

// The inverse of shard_label_value; nullopt when `value` is not one.
std::optional<ShardOf> parse_shard_label_value(const std::string& value);

// labels.Hash() of a group's labels (sorted by name, as a std::map is).
uint64_t group_hash(const std::map<std::string, std::string>& group);

}  // namespace promblock::compact
