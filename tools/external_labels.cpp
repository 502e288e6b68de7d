#include "tools/external_labels.h"

#include "tsdb/base/usage_error.h"

namespace promblock::tools {

namespace {

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// The SOURCE argument `spec` starts with (followed by ':'), if any: the
// longest, so that "bucket:x:" wins over "bucket:".
int source_of(const std::string& spec, const std::vector<std::string>& sources) {
  int found = -1;
  for (size_t i = 0; i < sources.size(); ++i) {
    const auto& s = sources[i];
    if (spec.size() > s.size() && spec.compare(0, s.size(), s) == 0 && spec[s.size()] == ':' &&
        (found < 0 || s.size() > sources[found].size()))
      found = int(i);
  }
  return found;
}

}  // namespace

std::map<uint32_t, LabelMap> parse_external_labels(const std::vector<std::string>& specs,
                                                   const std::vector<std::string>& sources) {
  std::map<uint32_t, LabelMap> out;
  LabelMap everywhere;
  for (const auto& spec : specs) {
    int source = source_of(spec, sources);
    std::string pair = source < 0 ? spec : spec.substr(sources[source].size() + 1);
    size_t eq = pair.find('=');
    std::string name = pair.substr(0, eq);
    if (eq == std::string::npos || eq + 1 == pair.size() || !valid_label_name(name)) {
      std::string msg =
          "--external-label wants [SOURCE:]NAME=VALUE with a label name and a value, got \"";
      msg += spec;
      msg += '"';
      throw UsageError(msg);
    }
    LabelMap& target = source < 0 ? everywhere : out[uint32_t(source)];
    target[name] = pair.substr(eq + 1);
  }
  if (everywhere.empty()) return out;
  for (uint32_t i = 0; i <= sources.size(); ++i)
    out[i].insert(everywhere.begin(), everywhere.end());  // a source's own value wins
  return out;
}

}  // namespace promblock::tools
