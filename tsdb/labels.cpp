#include "tsdb/labels.h"

#include <algorithm>

#include "tsdb/go_format.h"

namespace promblock {

int compare_labels(const Labels& a, const Labels& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (int c = a[i].name.compare(b[i].name)) return c < 0 ? -1 : 1;
    if (int c = a[i].value.compare(b[i].value)) return c < 0 ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

std::string_view label_value(const Labels& ls, std::string_view name) {
  for (const auto& l : ls)
    if (l.name == name) return l.value;
  return {};
}

std::string labels_to_string(const Labels& ls) {
  std::string out = "{";
  for (size_t i = 0; i < ls.size(); ++i) {
    if (i) out += ", ";
    out += ls[i].name;
    out += '=';
    out += go_quote(ls[i].value);
  }
  out += '}';
  return out;
}

}  // namespace promblock
