#include "tsdb/verify/index_check.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "index/series_codec.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/message_format.h"

namespace promblock::verify {

namespace {

// Series entries that cannot be read in a row before the walk gives up: a
// damaged length loses the way through the section for good.
constexpr int kMaxConsecutiveBadEntries = 10;

std::string pair_name(std::string_view name, std::string_view value) {
  if (name.empty() && value.empty()) return "the all-series list";
  return std::string(name) + "=" + quote_for_message(value);
}

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t str_hash(std::string_view s) { return mix(std::hash<std::string_view>{}(s)); }

// One (label pair, series) term of the postings checksum; a sum of terms
// does not depend on the order they are added in.
uint64_t pair_term(uint64_t name_hash, uint64_t value_hash, uint32_t ref) {
  return mix(name_hash ^ mix(value_hash + 0x9e3779b97f4a7c15ull * (uint64_t(ref) + 1)));
}

uint64_t align(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

IndexCheck::IndexCheck(std::span<const uint8_t> bytes, std::string file, Report& report)
    : bytes_(bytes), file_(std::move(file)), report_(report) {}

void IndexCheck::problem(std::string_view kind, std::string series, std::string what) {
  report_.error(kind, file_, std::move(series), std::move(what));
}

index::FaultFn IndexCheck::reporter() {
  return [this](index::Fault&& f) { problem(f.kind, "", std::move(f.what)); };
}

bool IndexCheck::section(uint64_t offset, const std::string& what, std::span<const uint8_t>& body) {
  return index::parse_section(
      bytes_, layout_, offset, [&] { return what; }, body, reporter());
}

void IndexCheck::run(const std::function<void(const IndexSeries&)>& on_series) {
  if (!check_header_and_toc()) return;
  check_symbols();
  walk_series(on_series);
  check_label_indices();
  check_postings();
}

bool IndexCheck::check_header_and_toc() {
  if (!index::parse_layout(bytes_, layout_, reporter())) return false;
  if (toc().postings_offset_table == 0)
    problem("no postings offset table", "", "table of contents: no postings offset table");
  return true;
}

void IndexCheck::check_symbols() {
  if (toc().symbols == 0) {
    problem("no symbol table", "", "table of contents: no symbol table");
    return;
  }
  if (!section(toc().symbols, "symbol table", symbols_body_)) return;
  // Labels still resolve through an unsorted table (refs are positions);
  // only lookups by string would fail, and this check does none.
  symbols_ok_ =
      index::parse_symbols(symbols_body_, reporter(), [this](uint32_t offset, std::string_view s) {
        symbol_offsets_.push_back(offset);
        symbol_hashes_.push_back(str_hash(s));
      });
}

std::string_view IndexCheck::symbol(uint32_t ref) const {
  enc::Decbuf d(symbols_body_.subspan(symbol_offsets_[ref]));
  return d.uvarint_str();
}

void IndexCheck::walk_series(const std::function<void(const IndexSeries&)>& on_series) {
  if (toc().series == 0) {
    // An index without series is valid (an empty block).
    series_complete_ = true;
    return;
  }
  Walk w;
  w.pos = toc().series;
  while (true) {
    w.pos = skip_padding(w.pos);
    if (w.pos >= layout_.series_end) break;
    auto ref = uint32_t(w.pos / index::kSeriesAlign);
    uint64_t next = 0;
    EntryRead read = read_entry(w, ref, next);
    if (read == EntryRead::kStop) break;
    if (read == EntryRead::kSkip) continue;
    w.bad_in_a_row = 0;
    series_refs_.add(ref);
    ++series_count_;
    const bool resolved = resolve_labels(w, ref);
    if (resolved) check_series_labels(w, ref);
    on_series({ref, w.labels, w.name, w.chunks});
    if (resolved) {
      std::swap(w.prev, w.labels);
      std::swap(w.prev_name, w.name);
      w.have_prev = true;
    }
    w.pos = next;
  }
  series_walked_to_ = w.complete ? layout_.series_end : w.pos;
  series_complete_ = w.complete;
}

uint64_t IndexCheck::skip_padding(uint64_t pos) {
  // Padding up to the next entry is zeros: anything else is damage,
  // even though no reader would notice it.
  uint64_t aligned = std::min(align(pos, index::kSeriesAlign), layout_.series_end);
  for (uint64_t p = pos; p < aligned; ++p) {
    if (bytes_[p] != 0) {
      problem("padding not zero", "",
              "series section: non-zero padding byte at offset " + std::to_string(p));
      break;
    }
  }
  return aligned;
}

std::string IndexCheck::entry_where(const Walk& w, uint32_t ref) const {
  return "series entry at offset " + std::to_string(w.pos) + " (ref " + std::to_string(ref) + ")" +
         (w.have_prev ? " after " + w.prev_name : "");
}

IndexCheck::EntryRead IndexCheck::read_entry(Walk& w, uint32_t ref, uint64_t& next) {
  enc::Decbuf d(bytes_.subspan(w.pos, layout_.series_end - w.pos));
  uint64_t len = d.uvarint();
  if (!d.ok() || len > d.remaining() || d.remaining() - len < index::kCrcLen) {
    problem("series entry runs past the section", "",
            entry_where(w, ref) + ": length " + std::to_string(len) +
                " runs past the end of the series section; the rest of the section is not "
                "checked");
    w.complete = false;
    bad_series_refs_.add(ref);
    return EntryRead::kStop;
  }
  auto body = d.bytes(size_t(len));
  uint32_t want = d.be32();
  next = uint64_t(d.pos() - bytes_.data());
  std::string_view kind;
  std::string what;
  if (!enc::checksum_ok(enc::crc32c(body), want)) {
    kind = "series checksum mismatch";
    what = "checksum mismatch (CRC32-C)";
  } else if (std::string bad = index::decode_series_body(body, w.label_refs, w.chunks);
             // Unsorted chunk metas decode completely; they are the caller's to report.
             !bad.empty() && bad != index::check_chunk_metas(w.chunks)) {
    kind = "series entry malformed";
    what = "malformed entry: " + bad;
  }
  if (kind.empty()) return EntryRead::kOk;
  problem(kind, "", entry_where(w, ref) + ": " + what);
  w.complete = false;
  bad_series_refs_.add(ref);
  w.pos = next;
  if (++w.bad_in_a_row < kMaxConsecutiveBadEntries) return EntryRead::kSkip;
  problem("series walk given up", "",
          "series section: " + std::to_string(kMaxConsecutiveBadEntries) +
              " unreadable entries in a row, the rest of the section is not checked");
  return EntryRead::kStop;
}

bool IndexCheck::resolve_labels(Walk& w, uint32_t ref) {
  w.labels.resize(w.label_refs.size());
  bool resolved = symbols_ok_;
  for (size_t i = 0; resolved && i < w.label_refs.size(); ++i) {
    auto [n, v] = w.label_refs[i];
    if (n >= symbol_offsets_.size() || v >= symbol_offsets_.size()) {
      problem("symbol ref out of range", "",
              entry_where(w, ref) + ": label " + std::to_string(i) + ": symbol ref " +
                  std::to_string(std::max(n, v)) + " out of range (" +
                  std::to_string(symbol_offsets_.size()) + " symbols)");
      resolved = false;
      break;
    }
    w.labels[i].name.assign(symbol(n));
    w.labels[i].value.assign(symbol(v));
  }
  if (!resolved) {
    w.labels.clear();
    labels_complete_ = false;
    w.name.clear();
    return false;
  }
  w.name = labels_to_string(w.labels);
  return true;
}

void IndexCheck::check_series_labels(Walk& w, uint32_t ref) {
  const Labels& labels = w.labels;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].name.empty())
      problem("empty label name", w.name, "label " + std::to_string(i) + " has an empty name");
    if (i > 0 && labels[i].name <= labels[i - 1].name)
      problem("labels not sorted", w.name,
              "label names not sorted and unique: " + quote_for_message(labels[i].name) +
                  (labels[i].name == labels[i - 1].name
                       ? " repeated"
                       : " after " + quote_for_message(labels[i - 1].name)));
  }
  if (labels.empty()) problem("series without labels", w.name, "series has no labels");
  if (w.have_prev) {
    int c = compare_labels(w.prev, labels);
    if (c == 0)
      problem("duplicate series", w.name, "series appears twice (refs not unique by labels)");
    else if (c > 0)
      problem("series not sorted", w.name, "series not sorted: comes after " + w.prev_name);
  }
  for (auto [n, v] : w.label_refs) {
    auto& sum = series_sums_[n];
    sum.sum += pair_term(symbol_hashes_[n], symbol_hashes_[v], ref);
    ++sum.count;
  }
}

void IndexCheck::check_label_indices() {
  // Prometheus >= 3.7 writes none; where a file has them, they are part of
  // it and checked, though nothing reads them.
  index::parse_label_indices(
      bytes_, layout_, symbols_ok_ ? uint32_t(symbol_offsets_.size()) : UINT32_MAX, reporter());
}

void IndexCheck::check_postings() {
  if (toc().postings_offset_table == 0) return;
  std::span<const uint8_t> body;
  if (!section(toc().postings_offset_table, "postings offset table", body)) return;
  // Checksums per label name of the postings read, compared at each name's end.
  std::string_view cur_name;
  bool cur_ok = true;
  PairSum cur;
  bool have_name = false;
  std::vector<std::string_view> names_all;  // every label name with postings
  // Comparing with the series needs every series and its labels, and the
  // symbols to map names to refs.
  const bool can_compare = series_complete_ && labels_complete_ && symbols_ok_;
  auto finish_name = [&] {
    if (have_name && !cur_name.empty() && cur_ok && can_compare) compare_name_sums(cur_name, cur);
  };
  bool all_seen = false;
  std::vector<uint32_t> refs;
  index::parse_postings_offset_table(
      body, layout_, reporter(), [&](const index::PostingsOffsetEntry& e) {
        if (!have_name || e.name != cur_name) {
          finish_name();
          cur_name = e.name;
          if (!e.name.empty()) names_all.push_back(e.name);
          cur = {};
          cur_ok = true;
          have_name = true;
        }
        const bool all = e.name.empty() && e.value.empty();
        all_seen |= all;
        auto list_what = [&] { return "postings of " + pair_name(e.name, e.value); };
        std::span<const uint8_t> list;
        if (!e.offset_ok ||
            !index::parse_section(bytes_, layout_, e.offset, list_what, list, reporter()) ||
            !index::parse_postings_list(list, layout_, list_what, reporter(), refs)) {
          cur_ok = false;
          return;
        }
        check_postings_refs(e.name, e.value, all, refs, cur, cur_ok);
      });
  finish_name();
  if (!all_seen)
    problem("no all-postings list", "", "postings offset table: no all-series postings list");
  if (can_compare) check_names_have_postings(names_all);
}

// The postings of one label name against the series that have the label.
void IndexCheck::compare_name_sums(std::string_view name, const PairSum& got) {
  PairSum want;
  for (const auto& [ref, s] : series_sums_)
    if (symbol(ref) == name) {
      want = s;
      break;
    }
  if (want.sum != got.sum || want.count != got.count)
    problem("postings do not match series", "",
            "postings of label " + quote_for_message(name) +
                " do not list exactly the series that have it (" + std::to_string(got.count) +
                " postings entries, " + std::to_string(want.count) + " series with the label)");
}

// Label names that series have but the postings do not.
void IndexCheck::check_names_have_postings(std::vector<std::string_view>& names) {
  std::sort(names.begin(), names.end());
  for (const auto& [ref, s] : series_sums_) {
    std::string_view n = symbol(ref);
    if (!std::binary_search(names.begin(), names.end(), n))
      problem("postings do not match series", "",
              "postings of label " + quote_for_message(n) + " missing: " + std::to_string(s.count) +
                  " series have the label");
  }
}

// One postings list against the series walked: every ref a series entry
// (refs outside the series section the parser reported), the all-postings
// list complete, and the list's terms added to its name's checksum.
void IndexCheck::check_postings_refs(std::string_view name, std::string_view value, bool all,
                                     std::span<const uint32_t> refs, PairSum& sum, bool& ok) {
  const uint64_t nh = str_hash(name), vh = str_hash(value);
  uint64_t nowhere = 0, first_nowhere = 0;
  for (size_t i = 1; i < refs.size(); ++i)
    if (refs[i] <= refs[i - 1]) ok = false;  // reported by the parser
  for (uint32_t ref : refs) {
    uint64_t off = uint64_t(ref) * index::kSeriesAlign;
    bool known = series_refs_.contains(ref);
    bool in_section = toc().series != 0 && off >= toc().series && off < layout_.series_end;
    // Refs past where an incomplete walk stopped cannot be judged.
    bool judgeable = off < series_walked_to_ && !bad_series_refs_.contains(ref);
    if (!known) {
      ok = false;
      if (in_section && judgeable && nowhere++ == 0) first_nowhere = ref;
    }
    if (known && !all) {
      sum.sum += pair_term(nh, vh, ref);
      ++sum.count;
    }
  }
  const std::string list_what = "postings of " + pair_name(name, value);
  if (nowhere > 0)
    problem("postings point nowhere", "",
            list_what + ": series ref " + std::to_string(first_nowhere) + " (offset " +
                std::to_string(uint64_t(first_nowhere) * index::kSeriesAlign) +
                ") is not a series entry" +
                (nowhere > 1 ? " (and " + std::to_string(nowhere - 1) + " more refs)" : ""));
  if (all && series_complete_ && ok && refs.size() != series_count_)
    problem("all-postings incomplete", "",
            list_what + " holds " + std::to_string(refs.size()) + " series, the series section " +
                std::to_string(series_count_));
}

}  // namespace promblock::verify
