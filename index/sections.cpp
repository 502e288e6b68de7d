#include "index/sections.h"

#include <algorithm>

#include "tsdb/base/encoding.h"
#include "tsdb/base/message_format.h"

namespace promblock::index {

std::string postings_pair_name(std::string_view name, std::string_view value) {
  return std::string(name.empty() ? "(all)" : name) + "=" + quote_for_message(value);
}

namespace {

// Magic, version and room for the table of contents.
bool check_header(std::span<const uint8_t> file, Layout& out, const FaultFn& fault) {
  if (file.size() < kHeaderLen) {
    fault({"index too small",
           "file too small for an index header (" + std::to_string(file.size()) + " bytes)"});
    return false;
  }
  uint32_t magic = enc::load_be32(file.data());
  if (magic != kMagic) {
    fault({"bad magic", "invalid magic number " + hex32(magic) + " (want " + hex32(kMagic) + ")"});
    return false;
  }
  out.version = file[4];
  // Version 3 marks indexes whose postings may be encoded otherwise; no
  // writer has done so, and Prometheus (since 2.55) reads it as version 2.
  if (out.version != kFormatV2 && out.version != kFormatV3) {
    fault({"bad version", "unsupported index version " + std::to_string(out.version)});
    return false;
  }
  if (file.size() < kHeaderLen + kTocLen) {
    fault({"index too small",
           "file too small for a table of contents (" + std::to_string(file.size()) + " bytes)"});
    return false;
  }
  return true;
}

// The entry count that starts a table, or false after a fault where the
// rest of the table cannot hold that many entries of `min_entry` bytes.
bool read_count(enc::Decbuf& d, size_t min_entry, std::string_view kind, const std::string& what,
                const FaultFn& fault, uint32_t& count) {
  count = d.be32();
  if (d.ok() && count <= d.remaining() / min_entry) return true;
  fault({kind, what + ": count " + std::to_string(count) + " exceeds its size"});
  return false;
}

}  // namespace

bool parse_layout(std::span<const uint8_t> file, Layout& out, const FaultFn& fault) {
  if (!check_header(file, out, fault)) return false;
  out.toc_start = file.size() - kTocLen;
  auto toc = file.subspan(out.toc_start);
  if (!enc::checksum_ok(enc::crc32c(toc.first(kTocLen - kCrcLen)),
                        enc::load_be32(toc.data() + kTocLen - kCrcLen))) {
    fault({"toc checksum mismatch", "table of contents: checksum mismatch (CRC32-C)"});
    return false;
  }
  enc::Decbuf d(toc);
  Toc& t = out.toc;
  t.symbols = d.be64();
  t.series = d.be64();
  t.label_indices = d.be64();
  t.label_offset_table = d.be64();
  t.postings = d.be64();
  t.postings_offset_table = d.be64();
  const std::pair<const char*, uint64_t*> entries[] = {
      {"symbols", &t.symbols},
      {"series", &t.series},
      {"label indices", &t.label_indices},
      {"label offset table", &t.label_offset_table},
      {"postings", &t.postings},
      {"postings offset table", &t.postings_offset_table},
  };
  for (auto& [what, offset] : entries) {
    if (*offset == 0) continue;  // absent section
    if (*offset < kHeaderLen || *offset > out.toc_start) {
      fault({"toc offset outside the file",
             "table of contents: " + std::string(what) + " offset " + std::to_string(*offset) +
                 " outside the file (size " + std::to_string(file.size()) + ")"});
      *offset = 0;  // unusable: treated as absent from here on
    }
  }
  // Series entries end where the next section begins. In the 3.7+ layout
  // that is the postings (label indices point there too, unpadded).
  out.series_end = out.toc_start;
  for (uint64_t next : {t.label_indices, t.label_offset_table, t.postings, t.postings_offset_table})
    if (next != 0 && next >= t.series) out.series_end = std::min(out.series_end, next);
  return true;
}

bool parse_section(std::span<const uint8_t> file, const Layout& layout, uint64_t offset,
                   const WhatFn& what, std::span<const uint8_t>& body, const FaultFn& fault) {
  const uint64_t end = layout.toc_start;
  if (offset < kHeaderLen || offset > end || end - offset < 8) {
    fault({"section outside the file",
           what() + ": offset " + std::to_string(offset) + " outside the file"});
    return false;
  }
  uint64_t len = enc::load_be32(file.data() + offset);
  if (len > end - offset - 8) {
    fault({"section runs past the data", what() + ": length " + std::to_string(len) +
                                             " at offset " + std::to_string(offset) +
                                             " runs past the end of the data"});
    return false;
  }
  body = file.subspan(offset + 4, len);
  if (!enc::checksum_ok(enc::crc32c(body), enc::load_be32(body.data() + len))) {
    fault({"section checksum mismatch", what() + ": checksum mismatch (CRC32-C)"});
    return false;
  }
  return true;
}

bool parse_symbols(std::span<const uint8_t> body, const FaultFn& fault,
                   const std::function<void(uint32_t, std::string_view)>& on_symbol) {
  enc::Decbuf d(body);
  uint32_t count = 0;
  // Each symbol takes at least one byte: bound the count before callers
  // reserve memory for it.
  if (!read_count(d, 1, "symbol table malformed", "symbol table", fault, count)) return false;
  std::string_view prev;
  for (uint32_t i = 0; i < count; ++i) {
    auto offset = uint32_t(d.pos() - body.data());
    std::string_view s = d.uvarint_str();
    if (!d.ok()) {
      fault(
          {"symbol table malformed", "symbol table: symbol " + std::to_string(i) + ": " + d.err()});
      return false;
    }
    // Symbol refs and lookups by string rely on the order.
    if (i > 0 && s <= prev)
      fault({"symbols not sorted",
             "symbol table: symbol " + std::to_string(i) + " " + quote_for_message(s) +
                 (s == prev ? " repeated" : " not after " + quote_for_message(prev))});
    prev = s;
    on_symbol(offset, s);
  }
  if (d.remaining() != 0) {
    fault({"symbol table malformed",
           "symbol table: " + std::to_string(d.remaining()) + " trailing bytes"});
  }
  return true;
}

bool parse_postings_offset_table(std::span<const uint8_t> body, const Layout& layout,
                                 const FaultFn& fault,
                                 const std::function<void(const PostingsOffsetEntry&)>& on_entry) {
  const std::string what = "postings offset table";
  enc::Decbuf d(body);
  uint32_t count = 0;
  // An entry takes at least four bytes.
  if (!read_count(d, 4, "postings offset table malformed", what, fault, count)) return false;
  std::string_view prev_name, prev_value;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    PostingsOffsetEntry e;
    e.name = d.uvarint_str();
    e.value = d.uvarint_str();
    e.offset = d.uvarint();
    if (!d.ok() || keys != 2) {
      fault({"postings offset table malformed",
             what + ": entry " + std::to_string(i) +
                 (d.ok() ? " has " + std::to_string(keys) + " keys, want 2" : ": " + d.err())});
      return false;
    }
    if (i > 0 && (e.name < prev_name || (e.name == prev_name && e.value <= prev_value)))
      fault({"postings offset table not sorted",
             what + ": " + postings_pair_name(e.name, e.value) +
                 (e.name == prev_name && e.value == prev_value
                      ? " repeated"
                      : " not after " + postings_pair_name(prev_name, prev_value))});
    prev_name = e.name;
    prev_value = e.value;
    const uint64_t postings = layout.toc.postings;
    if (e.offset >= layout.toc_start || (postings != 0 && e.offset < postings)) {
      fault({"postings offset outside the postings",
             what + ": postings of " + postings_pair_name(e.name, e.value) + " at offset " +
                 std::to_string(e.offset) + " outside the postings section"});
      e.offset_ok = false;
    }
    on_entry(e);
  }
  if (d.remaining() != 0)
    fault({"postings offset table malformed",
           what + ": " + std::to_string(d.remaining()) + " trailing bytes"});
  return true;
}

bool parse_postings_list(std::span<const uint8_t> body, const Layout& layout, const WhatFn& what,
                         const FaultFn& fault, std::vector<uint32_t>& refs) {
  enc::Decbuf d(body);
  uint32_t count = d.be32();
  if (!d.ok() || uint64_t(count) * 4 != d.remaining()) {
    fault({"postings list malformed", what() + ": " + std::to_string(count) +
                                          " entries do not fill " + std::to_string(d.remaining()) +
                                          " bytes"});
    return false;
  }
  refs.resize(count);
  bool sorted = true;
  for (uint32_t i = 0; i < count; ++i) {
    refs[i] = d.be32();
    if (sorted && i > 0 && refs[i] <= refs[i - 1]) {
      fault({"postings not sorted", what() + ": series refs not increasing (" +
                                        std::to_string(refs[i]) + " after " +
                                        std::to_string(refs[i - 1]) + ")"});
      sorted = false;  // once per list
    }
  }
  // Whether each ref is a series entry is the caller's to judge (verify
  // knows which entries exist); here only the section's bounds.
  if (count > 0) {
    // A sorted list (every list a reader accepts) is bounded by its ends.
    auto [lo, hi] = sorted ? std::pair(refs.begin(), refs.end() - 1)
                           : std::minmax_element(refs.begin(), refs.end());
    const Toc& t = layout.toc;
    if (t.series == 0 || uint64_t(*lo) * kSeriesAlign < t.series ||
        uint64_t(*hi) * kSeriesAlign >= layout.series_end)
      fault({"postings point nowhere", what() + ": series ref outside the series section"});
  }
  return true;
}

bool parse_label_indices(std::span<const uint8_t> file, const Layout& layout, uint32_t symbol_count,
                         const FaultFn& fault) {
  if (!layout.has_label_indices()) return true;
  const std::string what = "label offset table";
  std::span<const uint8_t> body;
  if (!parse_section(
          file, layout, layout.toc.label_offset_table, [&] { return what; }, body, fault))
    return false;
  enc::Decbuf d(body);
  uint32_t count = 0;
  if (!read_count(d, 3, "label offset table malformed", what, fault, count)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t keys = d.uvarint();
    std::string_view name = d.uvarint_str();
    uint64_t offset = d.uvarint();
    if (!d.ok() || keys != 1) {
      fault({"label offset table malformed",
             what + ": entry " + std::to_string(i) +
                 (d.ok() ? " has " + std::to_string(keys) + " keys, want 1" : ": " + d.err())});
      return false;
    }
    auto index_what = [name] { return "label index of " + quote_for_message(name); };
    std::span<const uint8_t> li_body;
    if (!parse_section(file, layout, offset, index_what, li_body, fault)) continue;
    enc::Decbuf li(li_body);
    uint32_t names = li.be32();
    uint32_t entries = li.be32();
    if (!li.ok() || names != 1 || uint64_t(entries) * 4 != li.remaining()) {
      fault({"label index malformed", index_what() + ": malformed (" + std::to_string(names) +
                                          " names, " + std::to_string(entries) + " entries)"});
      continue;
    }
    for (uint32_t k = 0; k < entries; ++k) {
      if (uint32_t ref = li.be32(); ref >= symbol_count) {
        fault({"label index malformed",
               index_what() + ": symbol ref " + std::to_string(ref) + " out of range"});
        break;
      }
    }
  }
  if (d.remaining() != 0)
    fault({"label offset table malformed",
           what + ": " + std::to_string(d.remaining()) + " trailing bytes"});
  return true;
}

}  // namespace promblock::index
