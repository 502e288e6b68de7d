#include "index/index_reader.h"

#include <algorithm>
#include <cstdio>

#include "index/series_codec.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/message_format.h"

namespace promblock::index {

IndexReader::IndexReader(const std::string& path) : file_(path), bytes_(file_.bytes()) {
  const FaultFn fault = [this](Fault&& f) { fail_here(f.what); };
  parse_layout(bytes_, layout_, fault);
  series_released_ = size_t(toc().series);  // nothing before the series is released
  read_symbols();
  read_postings_offset_table();
  // Obsolete (readers use the postings offset table), but a damaged label
  // index is still a damaged file, and checking them is cheap.
  parse_label_indices(bytes_, layout_, symbol_count(), fault);
  // Let go of the pages of the tables just read (a rare lookup faults a
  // few back in), so that a merge of many inputs does not keep every
  // input's tables resident.
  release_mapped();
}

void IndexReader::release_mapped() const { file_.release(0, bytes_.size()); }

void IndexReader::release_around(size_t begin, size_t end) const {
  // A kernel that maps a whole large folio on a fault (Linux 6.18) mapped
  // the neighbours of what was read too: release out to the largest folio.
  constexpr size_t kMaxFolio = 2 << 20;
  file_.release(begin / kMaxFolio * kMaxFolio, (end / kMaxFolio + 1) * kMaxFolio);
}

void IndexReader::fail_here(const std::string& what) const { fail(file_.path(), what); }

std::span<const uint8_t> IndexReader::section(uint64_t offset, const WhatFn& what) const {
  std::span<const uint8_t> body;
  parse_section(bytes_, layout_, offset, what, body, [this](Fault&& f) { fail_here(f.what); });
  return body;
}

void IndexReader::read_symbols() {
  if (toc().symbols == 0) return;
  // Copied: every series lookup reads it, and pages of the mapping would
  // stay resident with the whole folios around them.
  auto body = section(toc().symbols, "symbol table");
  symbols_.assign(body.begin(), body.end());
  symbols_body_ = symbols_;
  parse_symbols(
      symbols_body_, [this](Fault&& f) { fail_here(f.what); },
      [this](uint32_t offset, std::string_view) { symbol_offsets_.push_back(offset); });
}

std::string_view IndexReader::symbol(uint32_t ref) const {
  if (ref >= symbol_offsets_.size())
    fail_here("symbol ref " + std::to_string(ref) + " out of range (" +
              std::to_string(symbol_offsets_.size()) + " symbols)");
  enc::Decbuf d(symbols_body_.subspan(symbol_offsets_[ref]));
  return d.uvarint_str();  // validated when the table was read
}

void IndexReader::read_postings_offset_table() {
  if (toc().postings_offset_table == 0) return;
  auto body = section(toc().postings_offset_table, "postings offset table");
  parse_postings_offset_table(
      body, layout_, [this](Fault&& f) { fail_here(f.what); },
      [this](const PostingsOffsetEntry& e) {
        if (names_.empty() || names_.back().name != e.name)
          names_.push_back({e.name, values_.size(), values_.size()});
        values_.push_back({e.value, e.offset});
        names_.back().end_value = values_.size();
      });
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
  auto what = [&] { return "postings of " + postings_pair_name(name, v.value); };
  std::vector<uint32_t> refs;
  auto body = section(v.postings_offset, what);
  parse_postings_list(
      body, layout_, what, [this](Fault&& f) { fail_here(f.what); }, refs);
  roaring::Roaring out;
  out.addMany(refs.size(), refs.data());
  // Read once into memory: its pages need not stay mapped.
  size_t begin = size_t(body.data() - bytes_.data());
  release_around(begin, begin + body.size());
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

void IndexReader::release_series_before(uint32_t ref) const {
  constexpr size_t kStep = 16 * 1024;  // fewer madvise calls
  if (toc().series == 0) return;
  size_t upto = size_t(std::min<uint64_t>(uint64_t(ref) * kSeriesAlign, layout_.series_end));
  file_.release_behind(series_released_, upto, kStep);
}

void IndexReader::series(uint32_t ref, Labels& labels, std::vector<ChunkMeta>& chunks) const {
  uint64_t offset = series_offset(ref);
  decode_series(ref, bytes_.subspan(offset, layout_.series_end - offset), labels, chunks);
}

uint64_t IndexReader::series_offset(uint32_t ref) const {
  uint64_t offset = uint64_t(ref) * kSeriesAlign;
  if (toc().series == 0 || offset < toc().series || offset >= layout_.series_end)
    fail(file_.path(), "series " + std::to_string(ref),
         "offset " + std::to_string(offset) + " outside the series section");
  return offset;
}

void IndexReader::decode_series(uint32_t ref, std::span<const uint8_t> entry, Labels& labels,
                                std::vector<ChunkMeta>& chunks) const {
  auto what = [ref] { return "series " + std::to_string(ref); };
  enc::Decbuf d(entry);
  uint64_t len = d.uvarint();
  auto body = d.bytes(size_t(std::min<uint64_t>(len, d.remaining() + 1)));
  uint32_t want = d.be32();
  if (!d.ok()) fail(file_.path(), what(), "entry runs past the series section (" + d.err() + ")");
  if (!enc::checksum_ok(enc::crc32c(body), want))
    fail(file_.path(), what(), "checksum mismatch (CRC32-C)");

  std::vector<LabelRefs> refs;
  if (auto bad = decode_series_body(body, refs, chunks); !bad.empty())
    fail(file_.path(), what(), bad);
  labels.clear();
  labels.reserve(refs.size());
  for (const auto& [name_ref, value_ref] : refs) {
    if (name_ref >= symbol_count() || value_ref >= symbol_count())
      fail(file_.path(), what(),
           "symbol ref " + std::to_string(std::max(name_ref, value_ref)) + " out of range (" +
               std::to_string(symbol_count()) + " symbols)");
    std::string_view name = symbol(name_ref);
    if (!labels.empty() && name <= labels.back().name)
      fail(file_.path(), what(), "label names not sorted or not unique");
    labels.push_back({std::string(name), std::string(symbol(value_ref))});
  }
}

}  // namespace promblock::index
