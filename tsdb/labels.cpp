#include "tsdb/labels.h"

// The state struct is only public with static linking of the definitions.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

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

uint64_t labels_hash(const Labels& ls) {
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  static constexpr char kSep = '\xff';
  for (const auto& l : ls) {
    XXH64_update(&state, l.name.data(), l.name.size());
    XXH64_update(&state, &kSep, 1);
    XXH64_update(&state, l.value.data(), l.value.size());
    XXH64_update(&state, &kSep, 1);
  }
  return XXH64_digest(&state);
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
