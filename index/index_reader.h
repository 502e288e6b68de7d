#pragma once
// Reads an index file of Prometheus's format v2 (version byte 2 or 3; with
// or without the label indices that Prometheus before 3.7 writes) from a
// memory map (the symbol table from a copy).
//
// Opening checks the header and the TOC, then parses and verifies (bounds and
// CRC32-C) the symbol table, the postings offset table, and the label offset
// table and label indices where the file has them (index/sections.h). Postings lists and series
// entries are verified when read. Every read is bounds-checked, so a corrupt file gives a
// promblock::Error ("PATH: what is wrong"), never a crash.
//
// All methods are const and touch no mutable state: one reader may be shared
// by threads. Returned string_views point into the map (or the symbols'
// copy) and live as long as the reader.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/format.h"
#include "index/roaring_compat.h"
#include "index/sections.h"
#include "tsdb/base/mapped_file.h"
#include "tsdb/model/labels.h"

namespace promblock::index {

class IndexReader {
 public:
  explicit IndexReader(const std::string& path);

  std::string_view path() const { return file_.path(); }
  uint64_t size() const { return file_.size(); }
  const Toc& toc() const { return layout_.toc; }
  const Layout& layout() const { return layout_; }

  // Symbols in their sorted order; a v2 symbol ref is its position.
  uint32_t symbol_count() const { return uint32_t(symbol_offsets_.size()); }
  std::string_view symbol(uint32_t ref) const;

  // Sorted label names, without the empty name of the all-postings list.
  std::vector<std::string_view> label_names() const;
  // Sorted values of `name`; empty when the name is unknown.
  std::vector<std::string_view> label_values(std::string_view name) const;

  // Series refs of the series having label name="value" (empty if none).
  roaring::Roaring postings(std::string_view name, std::string_view value) const;
  // Every series ref in the index.
  roaring::Roaring all_postings() const;
  // Calls fn for every value of `name` in sorted order with its postings.
  void for_each_postings(
      std::string_view name,
      const std::function<void(std::string_view value, const roaring::Roaring& refs)>& fn) const;
  // Union of the postings of the values of `name` for which match() holds;
  // only matching lists are read.
  roaring::Roaring postings_matching(
      std::string_view name, const std::function<bool(std::string_view value)>& match) const;

  // Decodes the series entry at offset ref * 16 into labels and chunks.
  void series(uint32_t ref, Labels& labels, std::vector<ChunkMeta>& chunks) const;
  // For readers of the series section that do not use the mapping
  // (SeriesCursor): where ref's entry starts (checked against the
  // section), and the decoding of an entry from bytes starting at it (up to
  // the section's end, or at least the whole entry).
  uint64_t series_offset(uint32_t ref) const;
  void decode_series(uint32_t ref, std::span<const uint8_t> entry, Labels& labels,
                     std::vector<ChunkMeta>& chunks) const;
  const MappedFile& file() const { return file_; }
  // Drops every mapped page (a later read faults them back in): for a
  // reader that is done with lookups and reads on with a SeriesCursor.
  void release_mapped() const;
  // Drops from memory the mapped pages of the series entries before `ref`
  // (MappedFile::release): a merge reads them once, in order, and with many
  // inputs their pages would add up. For one thread at a time; series()
  // may run concurrently.
  void release_series_before(uint32_t ref) const;

 private:
  struct ValueEntry {
    std::string_view value;
    uint64_t postings_offset;
  };
  struct NameEntry {
    std::string_view name;
    size_t first_value;  // range in values_
    size_t end_value;
  };

  [[noreturn]] void fail_here(const std::string& what) const;
  // Releases the mapped pages of [begin, end) and those around it (see
  // there); the symbol table is a copy, so nothing looked up per series.
  void release_around(size_t begin, size_t end) const;
  // A section's body, bounds and CRC checked; `what` names it on failure.
  std::span<const uint8_t> section(uint64_t offset, const WhatFn& what) const;
  std::span<const uint8_t> section(uint64_t offset, std::string_view what) const {
    return section(offset, [what] { return std::string(what); });
  }
  void read_symbols();
  void read_postings_offset_table();
  const NameEntry* find_name(std::string_view name) const;
  std::span<const ValueEntry> values_of(const NameEntry& e) const;
  roaring::Roaring read_postings(const ValueEntry& v, std::string_view name) const;

  MappedFile file_;
  std::span<const uint8_t> bytes_;
  Layout layout_;
  mutable size_t series_released_ = 0;  // bytes of the file released so far

  std::vector<uint8_t> symbols_;  // the symbol table's body, copied
  std::span<const uint8_t> symbols_body_;
  std::vector<uint32_t> symbol_offsets_;  // into symbols_body_

  std::vector<NameEntry> names_;  // sorted by name
  std::vector<ValueEntry> values_;
};

}  // namespace promblock::index
