#pragma once
// A series' label set: sorted by name, names unique (as Prometheus keeps it).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace promblock {

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
};

using Labels = std::vector<Label>;

// Prometheus's labels.Compare: label by label, name then value; a prefix
// sorts first.
int compare_labels(const Labels& a, const Labels& b);
inline bool labels_less(const Labels& a, const Labels& b) { return compare_labels(a, b) < 0; }

// Value of `name`, or empty when absent (Prometheus treats both alike).
std::string_view label_value(const Labels& ls, std::string_view name);

// Prometheus's labels.Hash(): xxHash64 of name, 0xff, value, 0xff, ... for
// every label. Shard numbers are this hash mod the shard count.
uint64_t labels_hash(const Labels& ls);

// Whether `name` is a label name of the legacy (pre-UTF-8) charset,
// [a-zA-Z_][a-zA-Z0-9_]*, as prometheus/common's LegacyValidation checks it.
bool is_legacy_label_name(std::string_view name);

// Whether `name` is a metric name of the legacy charset,
// [a-zA-Z_:][a-zA-Z0-9_:]*.
bool is_legacy_metric_name(std::string_view name);

// Prometheus's labels.String(): {a="b", c="d"} with Go-quoted values. As in
// Prometheus 3.x, a label name outside the legacy charset is Go-quoted too:
// {__name__="my.metric", "a.b"="c"}; legacy names print bare, as 2.x did.
std::string labels_to_string(const Labels& ls);

// json.Marshal of Prometheus's labels.Labels (a map of name to value):
// {"__name__":"up","job":"api"}, keys sorted, no spaces, strings escaped as
// go_json_string does.
std::string labels_to_json(const Labels& ls);

// A label map (a block's external labels, a compaction group) as
// {a="b",c="d"}: sorted, unquoted, no spaces. Messages show it and the
// compactor keys groups by it.
std::string label_map_text(const std::map<std::string, std::string>& labels);

}  // namespace promblock
