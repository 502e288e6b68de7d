#pragma once
// Who a series' copy came from. A replica is named by the values of the
// replica labels, found in the block's external labels (meta.json
// thanos.labels) or in the series' own labels; where neither has one, the
// source argument the block came from is the replica.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/model/labels.h"

namespace promblock::merge {

class ReplicaRules {
 public:
  explicit ReplicaRules(std::vector<std::string> replica_labels)
      : labels_(std::move(replica_labels)) {}

  const std::vector<std::string>& labels() const { return labels_; }
  bool is_replica_label(std::string_view name) const;

  // The replica key of a block's external labels; empty when they carry
  // no replica label.
  std::string external_key(const BlockMeta& meta) const;
  // The replica key of a series: external, else from its labels, else the
  // source's (by index).
  std::string series_key(const std::string& external, const Labels& series,
                         uint32_t source_index) const;
  // Every key the blocks can produce, so that ranks are known up front.
  void register_block(const BlockReader& block, uint32_t source_index);
  // Orders the registered keys: named replicas by name, then sources in
  // the order given. Call after every register_block().
  void assign_ranks();
  uint32_t rank(const std::string& key) const;

  // External labels without the replica labels.
  std::map<std::string, std::string> group_labels(const BlockMeta& meta) const;

 private:
  std::string join_values(
      const std::function<std::string_view(const std::string&)>& value_of) const;

  std::vector<std::string> labels_;
  std::map<std::string, uint32_t> ranks_;
};

}  // namespace promblock::merge
