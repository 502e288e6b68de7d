#include "tsdb/block/meta.h"

#include <algorithm>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"

namespace promblock {

using ojson = nlohmann::ordered_json;

std::map<std::string, std::string> BlockMeta::external_labels() const {
  std::map<std::string, std::string> out;
  if (thanos.is_object() && thanos.contains("labels") && thanos["labels"].is_object())
    for (auto& [k, v] : thanos["labels"].items())
      if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

namespace {

int64_t get_i64(const ojson& j, const char* key, const std::string& path, bool required) {
  if (!j.contains(key)) {
    if (required) fail(path, std::string("missing field \"") + key + "\"");
    return 0;
  }
  const auto& v = j[key];
  if (!v.is_number_integer()) fail(path, std::string("field \"") + key + "\" is not an integer");
  return v.get<int64_t>();
}

uint64_t get_u64(const ojson& j, const char* key, const std::string& path) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    fail(path, std::string("field \"") + key + "\" is not a non-negative integer");
  return v.get<uint64_t>();
}

std::string get_ulid(const ojson& v, const std::string& path, const char* what) {
  if (!v.is_string() || !is_ulid(v.get<std::string>()))
    fail(path, std::string("invalid ULID in ") + what);
  return v.get<std::string>();
}

void parse_stats(const ojson& s, const std::string& path, BlockMeta& m) {
  if (!s.is_object()) fail(path, "field \"stats\" is not an object");
  m.stats.num_samples = get_u64(s, "numSamples", path);
  m.stats.num_float_samples = get_u64(s, "numFloatSamples", path);
  m.stats.num_histogram_samples = get_u64(s, "numHistogramSamples", path);
  m.stats.num_series = get_u64(s, "numSeries", path);
  m.stats.num_chunks = get_u64(s, "numChunks", path);
  m.stats.num_tombstones = get_u64(s, "numTombstones", path);
  for (auto& [k, v] : s.items())
    if (k != "numSamples" && k != "numFloatSamples" && k != "numHistogramSamples" &&
        k != "numSeries" && k != "numChunks" && k != "numTombstones")
      m.unknown_stats[k] = v;
}

void parse_compaction(const ojson& c, const std::string& path, BlockMeta& m) {
  if (!c.is_object()) fail(path, "field \"compaction\" is not an object");
  m.level = int(get_i64(c, "level", path, false));
  if (c.contains("sources")) {
    if (!c["sources"].is_array()) fail(path, "compaction.sources is not an array");
    for (const auto& s : c["sources"]) m.sources.push_back(get_ulid(s, path, "compaction.sources"));
  }
  if (c.contains("parents")) {
    if (!c["parents"].is_array()) fail(path, "compaction.parents is not an array");
    for (const auto& p : c["parents"]) {
      if (!p.is_object() || !p.contains("ulid")) fail(path, "bad entry in compaction.parents");
      m.parents.push_back({get_ulid(p["ulid"], path, "compaction.parents"),
                           get_i64(p, "minTime", path, false), get_i64(p, "maxTime", path, false)});
    }
  }
  if (c.contains("deletable") && c["deletable"].is_boolean()) m.deletable = c["deletable"];
  if (c.contains("failed") && c["failed"].is_boolean()) m.failed = c["failed"];
  if (c.contains("hints") && c["hints"].is_array())
    for (const auto& h : c["hints"])
      if (h.is_string()) m.hints.push_back(h);
  std::sort(m.hints.begin(), m.hints.end());
  for (auto& [k, v] : c.items())
    if (k != "level" && k != "sources" && k != "parents" && k != "deletable" && k != "failed" &&
        k != "hints")
      m.unknown_compaction[k] = v;
}

}  // namespace

void assume_external_labels(BlockMeta& meta, const std::map<std::string, std::string>& labels) {
  if (labels.empty() || !meta.external_labels().empty()) return;
  if (!meta.thanos.is_object())
    meta.thanos = {{"labels", nlohmann::ordered_json::object()},
                   {"downsample", {{"resolution", 0}}},
                   {"source", "promblock"}};
  for (const auto& [k, v] : labels) meta.thanos["labels"][k] = v;
}

BlockMeta parse_meta(const std::string& text, const std::string& path) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const std::exception& e) {
    fail(path, "invalid JSON: " + std::string(e.what()));
  }
  if (!j.is_object()) fail(path, "not a JSON object");
  BlockMeta m;
  if (!j.contains("ulid")) fail(path, "missing field \"ulid\"");
  m.ulid = get_ulid(j["ulid"], path, "\"ulid\"");
  m.min_time = get_i64(j, "minTime", path, true);
  m.max_time = get_i64(j, "maxTime", path, true);
  m.version = int(get_i64(j, "version", path, true));
  if (m.version != 1) fail(path, "unsupported meta.json version " + std::to_string(m.version));
  if (j.contains("stats")) parse_stats(j["stats"], path, m);
  if (j.contains("compaction")) parse_compaction(j["compaction"], path, m);
  if (j.contains("thanos")) {
    m.thanos = j["thanos"];
    if (!m.thanos.is_object()) fail(path, "field \"thanos\" is not an object");
  }
  for (auto& [k, v] : j.items())
    if (k != "ulid" && k != "minTime" && k != "maxTime" && k != "stats" && k != "compaction" &&
        k != "version" && k != "thanos")
      m.unknown[k] = v;
  return m;
}

bool BlockMeta::has_hint(std::string_view hint) const {
  return std::find(hints.begin(), hints.end(), hint) != hints.end();
}

int compaction_class(const BlockMeta& meta) {
  // A block with both partial-view hints plans with the stale ones, as
  // Prometheus's planner (the stale case comes first) does.
  if (meta.has_hint(kHintFromStaleSeries)) return 1;
  if (meta.has_hint(kHintFromSelectedSeries)) return 2;
  return 0;
}

std::string_view compaction_class_name(int cls) {
  return cls == 1 ? kHintFromStaleSeries : cls == 2 ? kHintFromSelectedSeries : "ordinary";
}

std::vector<std::string> merged_hints(const std::vector<const BlockMeta*>& inputs) {
  bool stale = false, selected = false, all_out_of_order = !inputs.empty();
  for (const BlockMeta* m : inputs) {
    stale |= m->has_hint(kHintFromStaleSeries);
    selected |= m->has_hint(kHintFromSelectedSeries);
    all_out_of_order &= m->has_hint(kHintFromOutOfOrder);
  }
  std::vector<std::string> hints;
  if (all_out_of_order) hints.emplace_back(kHintFromOutOfOrder);
  if (stale) hints.emplace_back(kHintFromStaleSeries);
  if (selected) hints.emplace_back(kHintFromSelectedSeries);
  std::sort(hints.begin(), hints.end());
  return hints;
}

BlockMeta read_meta(const std::string& block_dir) {
  std::string path = block_dir + "/meta.json";
  return parse_meta(fsutil::read_small_file(path), path);
}

std::string meta_to_json(const BlockMeta& m) {
  ojson j;
  j["ulid"] = m.ulid;
  j["minTime"] = m.min_time;
  j["maxTime"] = m.max_time;
  ojson stats = ojson::object();
  // Prometheus omits zero stats (omitempty).
  if (m.stats.num_samples) stats["numSamples"] = m.stats.num_samples;
  if (m.stats.num_float_samples) stats["numFloatSamples"] = m.stats.num_float_samples;
  if (m.stats.num_histogram_samples) stats["numHistogramSamples"] = m.stats.num_histogram_samples;
  if (m.stats.num_series) stats["numSeries"] = m.stats.num_series;
  if (m.stats.num_chunks) stats["numChunks"] = m.stats.num_chunks;
  if (m.stats.num_tombstones) stats["numTombstones"] = m.stats.num_tombstones;
  for (auto& [k, v] : m.unknown_stats.items()) stats[k] = v;
  j["stats"] = stats;
  ojson c;
  c["level"] = m.level;
  if (!m.sources.empty()) c["sources"] = m.sources;
  if (m.deletable) c["deletable"] = true;
  if (!m.parents.empty()) {
    ojson ps = ojson::array();
    for (const auto& p : m.parents)
      ps.push_back({{"ulid", p.ulid}, {"minTime", p.min_time}, {"maxTime", p.max_time}});
    c["parents"] = ps;
  }
  if (m.failed) c["failed"] = true;
  if (!m.hints.empty()) c["hints"] = m.hints;
  for (auto& [k, v] : m.unknown_compaction.items()) c[k] = v;
  j["compaction"] = c;
  j["version"] = m.version;
  for (auto& [k, v] : m.unknown.items()) j[k] = v;
  if (!m.thanos.is_null()) j["thanos"] = m.thanos;
  return j.dump(1, '\t');
}

}  // namespace promblock
