#include "tsdb/verify/index_check.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "index/series_codec.h"
#include "tsdb/encoding.h"
#include "tsdb/message_format.h"

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

bool IndexCheck::section(uint64_t offset, const std::string& what, std::span<const uint8_t>& body) {
  if (offset < index::kHeaderLen || offset > toc_start_ || toc_start_ - offset < 8) {
    problem("section outside the file", "",
            what + ": offset " + std::to_string(offset) + " outside the file");
    return false;
  }
  uint64_t len = enc::load_be32(bytes_.data() + offset);
  if (len > toc_start_ - offset - 8) {
    problem("section runs past the data", "",
            what + ": length " + std::to_string(len) + " at offset " + std::to_string(offset) +
                " runs past the end of the data");
    return false;
  }
  body = bytes_.subspan(offset + 4, len);
  if (!enc::checksum_ok(enc::crc32c(body), enc::load_be32(body.data() + len))) {
    problem("section checksum mismatch", "", what + ": checksum mismatch (CRC32-C)");
    return false;
  }
  return true;
}

void IndexCheck::run(const std::function<void(const IndexSeries&)>& on_series) {
  if (!check_header_and_toc()) return;
  check_symbols();
  walk_series(on_series);
  check_label_indices();
  check_postings();
}

bool IndexCheck::check_header_and_toc() {
  if (bytes_.size() < index::kHeaderLen + index::kTocLen) {
    problem("index too small", "",
            "file of " + std::to_string(bytes_.size()) +
                " bytes is too small for an index header and table of contents");
    return false;
  }
  uint32_t magic = enc::load_be32(bytes_.data());
  if (magic != index::kMagic) {
    problem("bad magic", "",
            "invalid magic number " + hex32(magic) + " (want " + hex32(index::kMagic) + ")");
    return false;
  }
  if (bytes_[4] != index::kFormatV2) {
    problem("bad version", "", "unsupported index version " + std::to_string(bytes_[4]));
    return false;
  }
  toc_start_ = bytes_.size() - index::kTocLen;
  auto toc = bytes_.subspan(toc_start_);
  if (!enc::checksum_ok(enc::crc32c(toc.first(index::kTocLen - index::kCrcLen)),
                        enc::load_be32(toc.data() + index::kTocLen - index::kCrcLen))) {
    problem("toc checksum mismatch", "", "table of contents: checksum mismatch (CRC32-C)");
    return false;
  }
  enc::Decbuf d(toc);
  toc_.symbols = d.be64();
  toc_.series = d.be64();
  toc_.label_indices = d.be64();
  toc_.label_offset_table = d.be64();
  toc_.postings = d.be64();
  toc_.postings_offset_table = d.be64();
  const std::pair<const char*, uint64_t*> entries[] = {
      {"symbols", &toc_.symbols},
      {"series", &toc_.series},
      {"label indices", &toc_.label_indices},
      {"label offset table", &toc_.label_offset_table},
      {"postings", &toc_.postings},
      {"postings offset table", &toc_.postings_offset_table},
  };
  for (auto& [what, offset] : entries) {
    if (*offset == 0) continue;  // absent section
    if (*offset < index::kHeaderLen || *offset > toc_start_) {
      problem("toc offset outside the file", "",
              "table of contents: " + std::string(what) + " offset " + std::to_string(*offset) +
                  " outside the file (size " + std::to_string(bytes_.size()) + ")");
      *offset = 0;  // unusable: its checks are skipped
    }
  }
  if (toc_.postings_offset_table == 0)
    problem("no postings offset table", "", "table of contents: no postings offset table");
  series_end_ = toc_start_;
  for (uint64_t next :
       {toc_.label_indices, toc_.label_offset_table, toc_.postings, toc_.postings_offset_table})
    if (next != 0 && next >= toc_.series) series_end_ = std::min(series_end_, next);
  return true;
}

void IndexCheck::check_symbols() {
  if (toc_.symbols == 0) {
    problem("no symbol table", "", "table of contents: no symbol table");
    return;
  }
  if (!section(toc_.symbols, "symbol table", symbols_body_)) return;
  enc::Decbuf d(symbols_body_);
  uint32_t count = d.be32();
  if (!d.ok() || count > d.remaining()) {
    problem("symbol table malformed", "",
            "symbol table: count " + std::to_string(count) + " exceeds its size");
    return;
  }
  symbol_offsets_.reserve(count);
  symbol_hashes_.reserve(count);
  std::string_view prev;
  for (uint32_t i = 0; i < count; ++i) {
    auto offset = uint32_t(d.pos() - symbols_body_.data());
    std::string_view s = d.uvarint_str();
    if (!d.ok()) {
      problem("symbol table malformed", "",
              "symbol table: symbol " + std::to_string(i) + ": " + d.err());
      return;
    }
    if (i > 0 && s <= prev) {
      problem("symbols not sorted", "",
              "symbol table: symbol " + std::to_string(i) + " " + quote_for_message(s) +
                  (s == prev ? " repeated" : " not after " + quote_for_message(prev)));
    }
    prev = s;
    symbol_offsets_.push_back(offset);
    symbol_hashes_.push_back(str_hash(s));
  }
  if (d.remaining() != 0) {
    problem("symbol table malformed", "",
            "symbol table: " + std::to_string(d.remaining()) + " trailing bytes");
  }
  // Labels still resolve through an unsorted table (refs are positions);
  // only lookups by string would fail, and this check does none.
  symbols_ok_ = true;
}

std::string_view IndexCheck::symbol(uint32_t ref) const {
  enc::Decbuf d(symbols_body_.subspan(symbol_offsets_[ref]));
  return d.uvarint_str();
}

void IndexCheck::walk_series(const std::function<void(const IndexSeries&)>& on_series) {
  if (toc_.series == 0) {
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
  uint64_t pos = toc_.series;
  while (true) {
    // Padding up to the next entry is zeros: anything else is damage,
    // even though no reader would notice it.
    uint64_t aligned = std::min(align(pos, index::kSeriesAlign), series_end_);
    for (uint64_t p = pos; p < aligned; ++p) {
      if (bytes_[p] != 0) {
        problem("padding not zero", "",
                "series section: non-zero padding byte at offset " + std::to_string(p));
        break;
      }
    }
    pos = aligned;
    if (pos >= series_end_) break;
    auto ref = uint32_t(pos / index::kSeriesAlign);
    auto where = [&] {
      return "series entry at offset " + std::to_string(pos) + " (ref " + std::to_string(ref) +
             ")" + (have_prev ? " after " + prev_name : "");
    };
    enc::Decbuf d(bytes_.subspan(pos, series_end_ - pos));
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
  series_walked_to_ = complete ? series_end_ : pos;
  series_complete_ = complete;
}

void IndexCheck::check_label_indices() {
  // Obsolete (readers use the postings offset table) but still part of
  // the file: check their checksums and shape.
  if (toc_.label_offset_table == 0) return;
  std::span<const uint8_t> body;
  if (!section(toc_.label_offset_table, "label offset table", body)) return;
  enc::Decbuf d(body);
  uint32_t count = d.be32();
  if (!d.ok() || count > d.remaining() / 3) {
    problem("label offset table malformed", "",
            "label offset table: count " + std::to_string(count) + " exceeds its size");
    return;
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    std::string_view name = d.uvarint_str();
    uint64_t offset = d.uvarint();
    if (!d.ok() || keys != 1) {
      problem("label offset table malformed", "",
              "label offset table: entry " + std::to_string(i) + " malformed" +
                  (d.ok() ? "" : ": " + d.err()));
      return;
    }
    const std::string what = "label index of " + quote_for_message(name);
    std::span<const uint8_t> li_body;
    if (!section(offset, what, li_body)) continue;
    enc::Decbuf li(li_body);
    uint32_t names = li.be32();
    uint32_t entries = li.be32();
    if (!li.ok() || names != 1 || uint64_t(entries) * 4 != li.remaining()) {
      problem("label index malformed", "",
              what + ": malformed (" + std::to_string(names) + " names, " +
                  std::to_string(entries) + " entries)");
      continue;
    }
    for (uint32_t k = 0; k < entries; ++k) {
      if (uint32_t ref = li.be32(); symbols_ok_ && ref >= symbol_offsets_.size()) {
        problem("label index malformed", "",
                what + ": symbol ref " + std::to_string(ref) + " out of range");
        break;
      }
    }
  }
  if (d.remaining() != 0)
    problem("label offset table malformed", "",
            "label offset table: " + std::to_string(d.remaining()) + " trailing bytes");
}

void IndexCheck::check_postings() {
  if (toc_.postings_offset_table == 0) return;
  const std::string what = "postings offset table";
  std::span<const uint8_t> body;
  if (!section(toc_.postings_offset_table, what, body)) return;
  enc::Decbuf d(body);
  uint32_t count = d.be32();
  if (!d.ok() || count > d.remaining() / 4) {
    problem("postings offset table malformed", "",
            what + ": count " + std::to_string(count) + " exceeds its size");
    return;
  }
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
    // Names are symbols: find the name's ref (the table is sorted when it
    // was usable; otherwise fall back to a scan).
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
  std::string_view prev_name, prev_value;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    std::string_view name = d.uvarint_str();
    std::string_view value = d.uvarint_str();
    uint64_t offset = d.uvarint();
    if (!d.ok() || keys != 2) {
      problem("postings offset table malformed", "",
              what + ": entry " + std::to_string(i) +
                  (d.ok() ? " has " + std::to_string(keys) + " keys, want 2" : ": " + d.err()));
      return;
    }
    if (i > 0 && (name < prev_name || (name == prev_name && value <= prev_value)))
      problem("postings offset table not sorted", "",
              what + ": " + pair_name(name, value) +
                  (name == prev_name && value == prev_value
                       ? " repeated"
                       : " not after " + pair_name(prev_name, prev_value)));
    prev_name = name;
    prev_value = value;
    if (!have_name || name != cur_name) {
      finish_name();
      cur_name = name;
      if (!name.empty()) names_all.push_back(name);
      cur = {};
      cur_ok = true;
      have_name = true;
    }
    if (name.empty() && value.empty()) all_seen = true;

    // The list itself.
    const std::string list_what = "postings of " + pair_name(name, value);
    if (toc_.postings != 0 && offset < toc_.postings) {
      problem("postings offset outside the postings", "",
              list_what + ": offset " + std::to_string(offset) + " before the postings section");
      cur_ok = false;
      continue;
    }
    std::span<const uint8_t> list;
    if (!section(offset, list_what, list)) {
      cur_ok = false;
      continue;
    }
    enc::Decbuf pd(list);
    uint32_t n = pd.be32();
    if (!pd.ok() || uint64_t(n) * 4 != pd.remaining()) {
      problem("postings list malformed", "",
              list_what + ": " + std::to_string(n) + " entries do not fill " +
                  std::to_string(pd.remaining()) + " bytes");
      cur_ok = false;
      continue;
    }
    const bool all = name.empty() && value.empty();
    const uint64_t nh = str_hash(name), vh = str_hash(value);
    uint32_t prev = 0;
    uint64_t nowhere = 0, first_nowhere = 0;
    bool sorted = true;
    for (uint32_t k = 0; k < n; ++k) {
      uint32_t ref = pd.be32();
      if (k > 0 && ref <= prev && sorted) {
        problem("postings not sorted", "",
                list_what + ": series refs not increasing (" + std::to_string(ref) + " after " +
                    std::to_string(prev) + ")");
        sorted = false;
        cur_ok = false;
      }
      prev = ref;
      uint64_t off = uint64_t(ref) * index::kSeriesAlign;
      bool known = series_refs_.contains(ref);
      // Refs past where an incomplete walk stopped cannot be judged.
      bool judgeable = off < series_walked_to_ && !bad_series_refs_.contains(ref);
      if (!known && (judgeable || toc_.series == 0 || off < toc_.series || off >= series_end_)) {
        if (nowhere++ == 0) first_nowhere = ref;
        cur_ok = false;
      }
      if (known && !all) {
        cur.sum += pair_term(nh, vh, ref);
        ++cur.count;
      }
    }
    if (nowhere > 0)
      problem("postings point nowhere", "",
              list_what + ": series ref " + std::to_string(first_nowhere) + " (offset " +
                  std::to_string(uint64_t(first_nowhere) * index::kSeriesAlign) +
                  ") is not a series entry" +
                  (nowhere > 1 ? " (and " + std::to_string(nowhere - 1) + " more refs)" : ""));
    if (all && series_complete_ && nowhere == 0 && n != series_count_)
      problem("all-postings incomplete", "",
              list_what + " holds " + std::to_string(n) + " series, the series section " +
                  std::to_string(series_count_));
  }
  finish_name();
  if (d.remaining() != 0)
    problem("postings offset table malformed", "",
            what + ": " + std::to_string(d.remaining()) + " trailing bytes");
  if (!all_seen) problem("no all-postings list", "", what + ": no all-series postings list");
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

}  // namespace promblock::verify
