#include "tsdb/merge/replicas.h"

#include <algorithm>

#include "tsdb/base/error.h"

namespace promblock::merge {

namespace {
// Named keys sort by name; source keys after them, by source index.
constexpr char kSourcePrefix = '\x7f';

std::string source_key(uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%010u", kSourcePrefix, index);
  return buf;
}
}  // namespace

bool ReplicaRules::is_replica_label(std::string_view name) const {
  return std::find(labels_.begin(), labels_.end(), name) != labels_.end();
}

// Several replica labels: their values joined, in flag order.
std::string ReplicaRules::join_values(
    const std::function<std::string_view(const std::string&)>& value_of) const {
  std::string key;
  bool found = false;
  for (size_t i = 0; i < labels_.size(); ++i) {
    std::string_view v = value_of(labels_[i]);
    if (i) key += '\x1f';
    key += v;
    found |= !v.empty();
  }
  return found ? key : std::string();
}

std::string ReplicaRules::external_key(const BlockMeta& meta) const {
  auto ext = meta.external_labels();
  return join_values([&](const std::string& l) -> std::string_view {
    auto it = ext.find(l);
    return it == ext.end() ? std::string_view() : std::string_view(it->second);
  });
}

std::string ReplicaRules::series_key(const std::string& external, const Labels& series,
                                     uint32_t source_index) const {
  if (!external.empty()) return external;
  std::string key = join_values([&](const std::string& l) { return label_value(series, l); });
  return key.empty() ? source_key(source_index) : key;
}

void ReplicaRules::register_block(const BlockReader& block, uint32_t source_index) {
  std::string ext = external_key(block.meta());
  if (!ext.empty()) {
    ranks_[ext] = 0;
    return;
  }
  // Values of replica labels in series come from the postings table, so no
  // series has to be read here. With several replica labels the exact
  // combinations are only known per series; single values still order them.
  for (const auto& l : labels_)
    for (auto v : block.index().label_values(l)) ranks_[std::string(v)] = 0;
  ranks_[source_key(source_index)] = 0;
}

void ReplicaRules::assign_ranks() {
  uint32_t r = 0;
  for (auto& [key, rank] : ranks_) rank = r++;
}

uint32_t ReplicaRules::rank(const std::string& key) const {
  auto it = ranks_.find(key);
  if (it != ranks_.end()) return it->second;
  // A combination of several replica labels: rank after the known names by
  // its position in sorted order.
  auto lb = ranks_.lower_bound(key);
  return lb == ranks_.end() ? uint32_t(ranks_.size()) : lb->second;
}

std::map<std::string, std::string> ReplicaRules::group_labels(const BlockMeta& meta) const {
  auto ext = meta.external_labels();
  for (const auto& l : labels_) ext.erase(l);
  return ext;
}

}  // namespace promblock::merge
