#include "tsdb/compact/sharding.h"

#include <charconv>

#include "tsdb/model/labels.h"

namespace promblock::compact {

namespace {

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<ShardOf> parse_pair(std::string_view text, std::string_view sep, uint64_t offset) {
  auto at = text.find(sep);
  if (at == std::string_view::npos) return std::nullopt;
  uint64_t i = 0, n = 0;
  if (!parse_u64(text.substr(0, at), i) || !parse_u64(text.substr(at + sep.size()), n))
    return std::nullopt;
  if (i < offset || n == 0 || i - offset >= n) return std::nullopt;
  return ShardOf{i - offset, n};
}

}  // namespace

std::optional<ShardOf> parse_shard_spec(const std::string& text) {
  return parse_pair(text, "/", 0);
}

std::optional<ShardOf> parse_shard_label_value(const std::string& value) {
  return parse_pair(value, "_of_", 1);
}

uint64_t group_hash(const std::map<std::string, std::string>& group) {
  Labels ls;
  for (const auto& [k, v] : group) ls.push_back({k, v});
  return labels_hash(ls);
}

}  // namespace promblock::compact
