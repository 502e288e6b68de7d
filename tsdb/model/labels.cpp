#include "tsdb/model/labels.h"

// The state struct is only public with static linking of the definitions.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>

#include "tsdb/base/go_format.h"

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

namespace {

bool is_legacy_name(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool is_legacy_label_name(std::string_view name) { return is_legacy_name(name, false); }
bool is_legacy_metric_name(std::string_view name) { return is_legacy_name(name, true); }

std::string labels_to_string(const Labels& ls) {
  std::string out = "{";
  for (size_t i = 0; i < ls.size(); ++i) {
    if (i) out += ", ";
    if (is_legacy_label_name(ls[i].name)) {
      out += ls[i].name;
    } else {
      out += go_quote(ls[i].name);
    }
    out += '=';
    out += go_quote(ls[i].value);
  }
  out += '}';
  return out;
}

std::string label_map_text(const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels)
    out += (out.size() > 1 ? "," : "") + name + "=\"" + value + "\"";
  return out + "}";
}

std::string labels_to_json(const Labels& ls) {
  // Go sorts map keys by their bytes. A label set is already sorted so, but
  // sort anyway; of equal names (not in a valid set) the map keeps the last.
  std::vector<const Label*> sorted;
  sorted.reserve(ls.size());
  for (const auto& l : ls) sorted.push_back(&l);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Label* a, const Label* b) { return a->name < b->name; });
  std::string out = "{";
  bool first = true;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i + 1 < sorted.size() && sorted[i + 1]->name == sorted[i]->name) continue;
    if (!first) out += ',';
    first = false;
    out += go_json_string(sorted[i]->name);
    out += ':';
    out += go_json_string(sorted[i]->value);
  }
  out += '}';
  return out;
}

}  // namespace promblock
