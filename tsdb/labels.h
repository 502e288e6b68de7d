#pragma once
// A series' label set: sorted by name, names unique (as Prometheus keeps it).
#include <cstdint>
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

// Prometheus's labels.String(): {a="b", c="d"} with Go-quoted values.
std::string labels_to_string(const Labels& ls);

}  // namespace promblock
