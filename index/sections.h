#pragma once
// The parts of an index file, each parsed in one place for every user:
// IndexReader stops at the first fault, verify's IndexCheck reports every
// fault it can tell apart and goes on. So the parsers report faults through
// a callback instead of throwing, and return false only when they cannot go
// on; a fault they can go past (an order violation, an offset that points
// elsewhere) is reported and parsing continues.
//
// Both layouts are read: Prometheus before 3.7 writes label indices and a
// label offset table; 3.7 and later write neither, and its TOC points the
// label indices at the postings and the label offset table at the postings
// offset table (tsdb/index/index.go, ensureStage(idxStageDone)).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/format.h"

namespace promblock::index {

struct Fault {
  std::string_view kind;  // short category that verify counts problems by
  std::string what;       // the message, without the file's path
};
using FaultFn = std::function<void(Fault&&)>;
using WhatFn = std::function<std::string()>;  // names a part; built only on failure

// Where the sections of one index file are.
struct Layout {
  uint8_t version = 0;
  Toc toc;
  uint64_t toc_start = 0;   // every section ends before it
  uint64_t series_end = 0;  // end of the series section (where the next section starts)

  // False for the Prometheus >= 3.7 layout (and for an index without them).
  bool has_label_indices() const {
    return toc.label_offset_table != 0 && toc.label_offset_table != toc.postings_offset_table;
  }
};

// Header (magic, version 2 or 3) and TOC (CRC, offsets inside the file). A
// TOC offset outside the file is a fault that parsing goes past with the
// offset set to 0 ("absent"), so that the other sections can still be read.
bool parse_layout(std::span<const uint8_t> file, Layout& out, const FaultFn& fault);

// The body of a "len <4b> | body | CRC32-C <4b>" section at `offset`, after
// checking that it ends before the TOC and that its CRC matches.
bool parse_section(std::span<const uint8_t> file, const Layout& layout, uint64_t offset,
                   const WhatFn& what, std::span<const uint8_t>& body, const FaultFn& fault);

// Symbol table body: calls on_symbol(offset in body, symbol) for each, in
// file order. Symbols must be sorted and unique (a fault parsing goes past).
bool parse_symbols(std::span<const uint8_t> body, const FaultFn& fault,
                   const std::function<void(uint32_t offset, std::string_view)>& on_symbol);

struct PostingsOffsetEntry {
  std::string_view name, value;
  uint64_t offset = 0;
  // False when the offset cannot be a postings list of this file (reported).
  bool offset_ok = true;
};
// Postings offset table body: entries of (name, value, offset), sorted by
// name then value (a fault parsing goes past).
bool parse_postings_offset_table(std::span<const uint8_t> body, const Layout& layout,
                                 const FaultFn& fault,
                                 const std::function<void(const PostingsOffsetEntry&)>& on_entry);

// One postings list body: the series refs, strictly increasing (a fault
// parsing goes past), each pointing into the series section.
bool parse_postings_list(std::span<const uint8_t> body, const Layout& layout, const WhatFn& what,
                         const FaultFn& fault, std::vector<uint32_t>& refs);

// Label offset table body, then each label index it points to: well formed,
// symbol refs below `symbol_count`. Only for layouts that have them.
bool parse_label_indices(std::span<const uint8_t> file, const Layout& layout, uint32_t symbol_count,
                         const FaultFn& fault);

// "name=value" for messages, "(all)" for the all-postings list's empty name.
std::string postings_pair_name(std::string_view name, std::string_view value);

}  // namespace promblock::index
