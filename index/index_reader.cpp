#include "index/index_reader.h"

#include <algorithm>
#include <cstdio>

#include "index/series_codec.h"
#include "tsdb/encoding.h"
#include "tsdb/error.h"
#include "tsdb/message_format.h"

namespace promblock::index {

namespace {

std::string pair_name(std::string_view name, std::string_view value) {
  return std::string(name.empty() ? "(all)" : name) + "=" + quote_for_message(value);
}

}  // namespace

IndexReader::IndexReader(const std::string& path) : file_(path), bytes_(file_.bytes()) {
  read_header_and_toc();
  read_symbols();
  read_postings_offset_table();
  read_label_indices();
}

void IndexReader::fail_here(const std::string& what) const { fail(file_.path(), what); }

void IndexReader::read_header_and_toc() {
  if (bytes_.size() < kHeaderLen)
    fail_here("file too small for an index header (" + std::to_string(bytes_.size()) + " bytes)");
  uint32_t magic = enc::load_be32(bytes_.data());
  if (magic != kMagic)
    fail_here("invalid magic number " + hex32(magic) + " (want " + hex32(kMagic) + ")");
  uint8_t version = bytes_[4];
  if (version != kFormatV2) fail_here("unsupported index version " + std::to_string(version));
  if (bytes_.size() < kHeaderLen + kTocLen)
    fail_here("file too small for a table of contents (" + std::to_string(bytes_.size()) +
              " bytes)");

  toc_start_ = bytes_.size() - kTocLen;
  auto toc = bytes_.subspan(toc_start_);
  if (!enc::checksum_ok(enc::crc32c(toc.first(kTocLen - kCrcLen)),
                        enc::load_be32(toc.data() + kTocLen - kCrcLen)))
    fail_here("table of contents: checksum mismatch (CRC32-C)");
  enc::Decbuf d(toc);
  toc_.symbols = d.be64();
  toc_.series = d.be64();
  toc_.label_indices = d.be64();
  toc_.label_offset_table = d.be64();
  toc_.postings = d.be64();
  toc_.postings_offset_table = d.be64();

  const std::pair<const char*, uint64_t> entries[] = {
      {"symbols", toc_.symbols},
      {"series", toc_.series},
      {"label indices", toc_.label_indices},
      {"label offset table", toc_.label_offset_table},
      {"postings", toc_.postings},
      {"postings offset table", toc_.postings_offset_table},
  };
  for (const auto& [what, offset] : entries) {
    if (offset == 0) continue;  // absent section
    if (offset < kHeaderLen || offset > toc_start_)
      fail_here("table of contents: " + std::string(what) + " offset " + std::to_string(offset) +
                " outside the file (size " + std::to_string(bytes_.size()) + ")");
  }
  // Series entries end where the next section begins.
  series_end_ = toc_start_;
  for (uint64_t next :
       {toc_.label_indices, toc_.label_offset_table, toc_.postings, toc_.postings_offset_table})
    if (next != 0 && next >= toc_.series) series_end_ = std::min(series_end_, next);
}

std::span<const uint8_t> IndexReader::section(uint64_t offset,
                                              const std::function<std::string()>& what) const {
  if (offset < kHeaderLen || offset > toc_start_ || toc_start_ - offset < 8)
    fail_here(what() + ": offset " + std::to_string(offset) + " outside the file");
  uint64_t len = enc::load_be32(bytes_.data() + offset);
  if (len > toc_start_ - offset - 8)
    fail_here(what() + ": length " + std::to_string(len) + " at offset " + std::to_string(offset) +
              " runs past the end of the data");
  auto body = bytes_.subspan(offset + 4, len);
  uint32_t want = enc::load_be32(body.data() + len);
  if (!enc::checksum_ok(enc::crc32c(body), want))
    fail_here(what() + ": checksum mismatch (CRC32-C)");
  return body;
}

void IndexReader::read_symbols() {
  if (toc_.symbols == 0) return;
  symbols_body_ = section(toc_.symbols, "symbol table");
  enc::Decbuf d(symbols_body_);
  uint32_t count = d.be32();
  // Each symbol takes at least one byte: bound the count before reserving.
  if (!d.ok() || count > d.remaining())
    fail_here("symbol table: count " + std::to_string(count) + " exceeds its size");
  symbol_offsets_.reserve(count);
  std::string_view prev;
  for (uint32_t i = 0; i < count; ++i) {
    auto offset = uint32_t(d.pos() - symbols_body_.data());
    std::string_view s = d.uvarint_str();
    if (!d.ok()) fail_here("symbol table: symbol " + std::to_string(i) + ": " + d.err());
    // Symbol refs and lookups rely on the order.
    if (i > 0 && s <= prev)
      fail_here("symbol table: symbol " + std::to_string(i) + " " + quote_for_message(s) +
                " not after " + quote_for_message(prev));
    prev = s;
    symbol_offsets_.push_back(offset);
  }
  if (d.remaining() != 0)
    fail_here("symbol table: " + std::to_string(d.remaining()) + " trailing bytes");
}

std::string_view IndexReader::symbol(uint32_t ref) const {
  if (ref >= symbol_offsets_.size())
    fail_here("symbol ref " + std::to_string(ref) + " out of range (" +
              std::to_string(symbol_offsets_.size()) + " symbols)");
  enc::Decbuf d(symbols_body_.subspan(symbol_offsets_[ref]));
  return d.uvarint_str();  // validated when the table was read
}

void IndexReader::read_postings_offset_table() {
  if (toc_.postings_offset_table == 0) return;
  const std::string what = "postings offset table";
  auto body = section(toc_.postings_offset_table, what);
  enc::Decbuf d(body);
  uint32_t count = d.be32();
  // An entry takes at least four bytes.
  if (!d.ok() || count > d.remaining() / 4)
    fail_here(what + ": count " + std::to_string(count) + " exceeds its size");
  values_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    std::string_view name = d.uvarint_str();
    std::string_view value = d.uvarint_str();
    uint64_t offset = d.uvarint();
    if (!d.ok()) fail_here(what + ": entry " + std::to_string(i) + ": " + d.err());
    if (keys != 2)
      fail_here(what + ": entry " + std::to_string(i) + " has " + std::to_string(keys) +
                " keys, want 2");
    if (offset >= toc_start_)
      fail_here(what + ": postings of " + pair_name(name, value) + " at offset " +
                std::to_string(offset) + " outside the file");
    if (names_.empty() || names_.back().name != name) {
      if (!names_.empty() && name < names_.back().name)
        fail_here(what + ": label name " + quote_for_message(name) + " out of order");
      names_.push_back({name, values_.size(), values_.size()});
    } else if (value <= values_.back().value) {
      fail_here(what + ": " + pair_name(name, value) + " out of order");
    }
    values_.push_back({value, offset});
    names_.back().end_value = values_.size();
  }
  if (d.remaining() != 0)
    fail_here(what + ": " + std::to_string(d.remaining()) + " trailing bytes");
}

// Label indices are obsolete (readers use the postings offset table), but a
// damaged one is still a damaged file, and checking them is cheap.
void IndexReader::read_label_indices() {
  if (toc_.label_offset_table == 0) return;
  const std::string what = "label offset table";
  auto body = section(toc_.label_offset_table, what);
  enc::Decbuf d(body);
  uint32_t count = d.be32();
  if (!d.ok() || count > d.remaining() / 3)
    fail_here(what + ": count " + std::to_string(count) + " exceeds its size");
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    std::string_view name = d.uvarint_str();
    uint64_t offset = d.uvarint();
    if (!d.ok()) fail_here(what + ": entry " + std::to_string(i) + ": " + d.err());
    if (keys != 1)
      fail_here(what + ": entry " + std::to_string(i) + " has " + std::to_string(keys) +
                " keys, want 1");
    const std::string index_what =
        "label index of " + quote_for_message(name);  // one per name: cheap
    enc::Decbuf li(section(offset, index_what));
    uint32_t names = li.be32();
    uint32_t entries = li.be32();
    if (!li.ok() || names != 1 || uint64_t(entries) * 4 != li.remaining())
      fail_here(index_what + ": malformed (" + std::to_string(names) + " names, " +
                std::to_string(entries) + " entries)");
    for (uint32_t k = 0; k < entries; ++k)
      if (uint32_t ref = li.be32(); ref >= symbol_count())
        fail_here(index_what + ": symbol ref " + std::to_string(ref) + " out of range");
  }
  if (d.remaining() != 0)
    fail_here(what + ": " + std::to_string(d.remaining()) + " trailing bytes");
}

const IndexReader::NameEntry* IndexReader::find_name(std::string_view name) const {
  auto it = std::lower_bound(names_.begin(), names_.end(), name,
                             [](const NameEntry& e, std::string_view n) { return e.name < n; });
  return it != names_.end() && it->name == name ? &*it : nullptr;
}

std::span<const IndexReader::ValueEntry> IndexReader::values_of(const NameEntry& e) const {
  return std::span<const ValueEntry>(values_).subspan(e.first_value, e.end_value - e.first_value);
}

std::vector<std::string_view> IndexReader::label_names() const {
  std::vector<std::string_view> out;
  out.reserve(names_.size());
  for (const auto& e : names_)
    if (!e.name.empty()) out.push_back(e.name);
  return out;
}

std::vector<std::string_view> IndexReader::label_values(std::string_view name) const {
  std::vector<std::string_view> out;
  if (const NameEntry* e = find_name(name))
    for (const auto& v : values_of(*e)) out.push_back(v.value);
  return out;
}

roaring::Roaring IndexReader::read_postings(const ValueEntry& v, std::string_view name) const {
  // Messages are built only on failure: this runs once per list read.
  auto what = [&] { return "postings of " + pair_name(name, v.value); };
  enc::Decbuf d(section(v.postings_offset, what));
  uint32_t count = d.be32();
  if (!d.ok() || uint64_t(count) * 4 != d.remaining())
    fail_here(what() + ": " + std::to_string(count) + " entries do not fill " +
              std::to_string(d.remaining()) + " bytes");
  std::vector<uint32_t> refs(count);
  for (uint32_t i = 0; i < count; ++i) {
    refs[i] = d.be32();
    if (i > 0 && refs[i] <= refs[i - 1])
      fail_here(what() + ": series refs not increasing (" + std::to_string(refs[i]) + " after " +
                std::to_string(refs[i - 1]) + ")");
  }
  if (count > 0) {
    uint64_t first = uint64_t(refs.front()) * kSeriesAlign;
    uint64_t last = uint64_t(refs.back()) * kSeriesAlign;
    if (toc_.series == 0 || first < toc_.series || last >= series_end_)
      fail_here(what() + ": series ref outside the series section");
  }
  roaring::Roaring out;
  out.addMany(refs.size(), refs.data());
  return out;
}

roaring::Roaring IndexReader::postings(std::string_view name, std::string_view value) const {
  const NameEntry* e = find_name(name);
  if (!e) return {};
  auto values = values_of(*e);
  auto it = std::lower_bound(values.begin(), values.end(), value,
                             [](const ValueEntry& v, std::string_view x) { return v.value < x; });
  if (it == values.end() || it->value != value) return {};
  return read_postings(*it, name);
}

roaring::Roaring IndexReader::all_postings() const { return postings("", ""); }

void IndexReader::for_each_postings(
    std::string_view name,
    const std::function<void(std::string_view, const roaring::Roaring&)>& fn) const {
  const NameEntry* e = find_name(name);
  if (!e) return;
  for (const auto& v : values_of(*e)) fn(v.value, read_postings(v, name));
}

roaring::Roaring IndexReader::postings_matching(
    std::string_view name, const std::function<bool(std::string_view)>& match) const {
  roaring::Roaring out;
  const NameEntry* e = find_name(name);
  if (!e) return out;
  for (const auto& v : values_of(*e))
    if (match(v.value)) out |= read_postings(v, name);
  return out;
}

void IndexReader::series(uint32_t ref, Labels& labels, std::vector<ChunkMeta>& chunks) const {
  auto what = [ref] { return "series " + std::to_string(ref); };
  uint64_t offset = uint64_t(ref) * kSeriesAlign;
  if (toc_.series == 0 || offset < toc_.series || offset >= series_end_)
    fail_here(what() + ": offset " + std::to_string(offset) + " outside the series section");
  enc::Decbuf d(bytes_.subspan(offset, series_end_ - offset));
  uint64_t len = d.uvarint();
  auto body = d.bytes(size_t(std::min<uint64_t>(len, d.remaining() + 1)));
  uint32_t want = d.be32();
  if (!d.ok()) fail_here(what() + ": entry runs past the series section (" + d.err() + ")");
  if (!enc::checksum_ok(enc::crc32c(body), want))
    fail_here(what() + ": checksum mismatch (CRC32-C)");

  std::vector<LabelRefs> refs;
  if (auto bad = decode_series_body(body, refs, chunks); !bad.empty())
    fail_here(what() + ": " + bad);
  labels.clear();
  labels.reserve(refs.size());
  for (const auto& [name_ref, value_ref] : refs) {
    if (name_ref >= symbol_count() || value_ref >= symbol_count())
      fail_here(what() + ": symbol ref " + std::to_string(std::max(name_ref, value_ref)) +
                " out of range (" + std::to_string(symbol_count()) + " symbols)");
    std::string_view name = symbol(name_ref);
    if (!labels.empty() && name <= labels.back().name)
      fail_here(what() + ": label names not sorted or not unique");
    labels.push_back({std::string(name), std::string(symbol(value_ref))});
  }
}

}  // namespace promblock::index
