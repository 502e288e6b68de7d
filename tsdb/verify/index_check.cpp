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
  std::vector<index::LabelRefs> label_refs;
  std::vector<index::ChunkMeta> chunks;
  Labels labels, prev;
  std::string name, prev_name;
  bool have_prev = false;
  int bad_in_a_row = 0;
  bool complete = true;
  uint64_t pos = toc().series;
  while (true) {
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
    pos = aligned;
    if (pos >= layout_.series_end) break;
    auto ref = uint32_t(pos / index::kSeriesAlign);
    auto where = [&] {
      return "series entry at offset " + std::to_string(pos) + " (ref " + std::to_string(ref) +
             ")" + (have_prev ? " after " + prev_name : "");
    };
    enc::Decbuf d(bytes_.subspan(pos, layout_.series_end - pos));
    uint64_t len = d.uvarint();
    if (!d.ok() || len > d.remaining() || d.remaining() - len < index::kCrcLen) {
      problem("series entry runs past the section", "",
              where() + ": length " + std::to_string(len) +
                  " runs past the end of the series section; the rest of the section is not "
                  "checked");
      complete = false;
      bad_series_refs_.add(ref);
      break;
    }
    auto body = d.bytes(size_t(len));
    uint32_t want = d.be32();
    uint64_t next = uint64_t(d.pos() - bytes_.data());
    auto fail_entry = [&](std::string_view kind, const std::string& what) {
      problem(kind, "", where() + ": " + what);
      complete = false;
      bad_series_refs_.add(ref);
      pos = next;
      return ++bad_in_a_row < kMaxConsecutiveBadEntries;
    };
    if (!enc::checksum_ok(enc::crc32c(body), want)) {
      if (fail_entry("series checksum mismatch", "checksum mismatch (CRC32-C)")) continue;
      problem("series walk given up", "",
              "series section: " + std::to_string(kMaxConsecutiveBadEntries) +
                  " unreadable entries in a row, the rest of the section is not checked");
      break;
    }
    std::string bad = index::decode_series_body(body, label_refs, chunks);
    // Unsorted chunk metas decode completely; they are the caller's to report.
    if (!bad.empty() && bad != index::check_chunk_metas(chunks)) {
      if (fail_entry("series entry malformed", "malformed entry: " + bad)) continue;
      problem("series walk given up", "",
              "series section: " + std::to_string(kMaxConsecutiveBadEntries) +
                  " unreadable entries in a row, the rest of the section is not checked");
      break;
    }
    bad_in_a_row = 0;
    series_refs_.add(ref);
    ++series_count_;

    // Labels.
    labels.resize(label_refs.size());
    bool resolved = symbols_ok_;
    for (size_t i = 0; resolved && i < label_refs.size(); ++i) {
      auto [n, v] = label_refs[i];
      if (n >= symbol_offsets_.size() || v >= symbol_offsets_.size()) {
        problem("symbol ref out of range", "",
                where() + ": label " + std::to_string(i) + ": symbol ref " +
                    std::to_string(std::max(n, v)) + " out of range (" +
                    std::to_string(symbol_offsets_.size()) + " symbols)");
        resolved = false;
        break;
      }
      labels[i].name.assign(symbol(n));
      labels[i].value.assign(symbol(v));
    }
    if (!resolved) {
      labels.clear();
      labels_complete_ = false;
      name.clear();
    } else {
      name = labels_to_string(labels);
      for (size_t i = 0; i < labels.size(); ++i) {
        if (labels[i].name.empty())
          problem("empty label name", name, "label " + std::to_string(i) + " has an empty name");
        if (i > 0 && labels[i].name <= labels[i - 1].name)
          problem("labels not sorted", name,
                  "label names not sorted and unique: " + quote_for_message(labels[i].name) +
                      (labels[i].name == labels[i - 1].name
                           ? " repeated"
                           : " after " + quote_for_message(labels[i - 1].name)));
      }
      if (labels.empty()) problem("series without labels", name, "series has no labels");
      if (have_prev) {
        int c = compare_labels(prev, labels);
        if (c == 0)
          problem("duplicate series", name, "series appears twice (refs not unique by labels)");
        else if (c > 0)
          problem("series not sorted", name, "series not sorted: comes after " + prev_name);
      }
      for (auto [n, v] : label_refs) {
        auto& s = series_sums_[n];
        s.sum += pair_term(symbol_hashes_[n], symbol_hashes_[v], ref);
        ++s.count;
      }
    }
    on_series({ref, labels, name, chunks});
    if (resolved) {
      std::swap(prev, labels);
      std::swap(prev_name, name);
      have_prev = true;
    }
    pos = next;
  }
  series_walked_to_ = complete ? layout_.series_end : pos;
  series_complete_ = complete;
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
    if (!have_name || cur_name.empty() || !cur_ok || !can_compare) return;
    PairSum want;
    for (const auto& [ref, s] : series_sums_)
      if (symbol(ref) == cur_name) {
        want = s;
        break;
      }
    if (want.sum != cur.sum || want.count != cur.count)
      problem("postings do not match series", "",
              "postings of label " + quote_for_message(cur_name) +
                  " do not list exactly the series that " + "have it (" +
                  std::to_string(cur.count) + " postings entries, " + std::to_string(want.count) +
                  " series with the label)");
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
  // Label names that series have but the postings do not.
  if (can_compare) {
    std::sort(names_all.begin(), names_all.end());
    for (const auto& [ref, s] : series_sums_) {
      std::string_view n = symbol(ref);
      if (!std::binary_search(names_all.begin(), names_all.end(), n))
        problem("postings do not match series", "",
                "postings of label " + quote_for_message(n) +
                    " missing: " + std::to_string(s.count) + " series have the label");
    }
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
