#pragma once
// Checks an index file (format v2, either layout) section by section: the
// reader stops at the first damage it meets, while a check should report
// every damaged part it can still tell apart. Sections are parsed by the
// same parsers as the reader's (index/sections.h), which report faults and
// go on where they can; the walk over the series streams: the series
// section is walked entry by entry, each series compared with the one
// before; memory grows with the series count only by a bitmap of refs.
//
// Checked: magic and version; the TOC and its CRC; every section's bounds
// and CRC32-C; symbols sorted and unique; each series entry's CRC and
// encoding, its label refs in range, labels sorted by name and unique,
// series strictly increasing by labels; label indices well-formed; the
// postings offset table sorted by (name, value); each postings list sorted
// and referring only to series entries; the all-postings list holding every
// series; and, per label name, postings holding exactly the series that
// have each label pair (compared through an order-independent checksum).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/format.h"
#include "index/roaring_compat.h"
#include "index/sections.h"
#include "index/series_codec.h"
#include "tsdb/model/labels.h"
#include "tsdb/verify/report.h"

namespace promblock::verify {

// One decoded series entry, passed to the caller of IndexCheck::run.
struct IndexSeries {
  uint32_t ref = 0;
  // Empty when the labels could not be resolved (damaged symbol table).
  const Labels& labels;
  // Labels.String() of the series, or "" when unknown.
  const std::string& name;
  std::span<const index::ChunkMeta> chunks;
};

class IndexCheck {
 public:
  // `file` names the index in problems ("index").
  IndexCheck(std::span<const uint8_t> bytes, std::string file, Report& report);

  // Runs every check; on_series is called for each series entry that could
  // be decoded, in file order.
  void run(const std::function<void(const IndexSeries&)>& on_series);

  // True when every series entry was read, so that counts are exact.
  bool series_complete() const { return series_complete_; }
  uint64_t series_count() const { return series_count_; }
  // Refs of the series entries read.
  const roaring::Roaring& series_refs() const { return series_refs_; }

 private:
  struct PairSum {  // order-independent checksum of (label pair, series ref)
    uint64_t sum = 0;
    uint64_t count = 0;
  };

  // What the walk over the series section carries from one entry to the next.
  struct Walk {
    uint64_t pos = 0;  // offset of the entry
    std::vector<index::LabelRefs> label_refs;
    std::vector<index::ChunkMeta> chunks;
    Labels labels, prev;
    std::string name, prev_name;
    bool have_prev = false;
    int bad_in_a_row = 0;
    bool complete = true;
  };
  enum class EntryRead { kOk, kSkip, kStop };

  void problem(std::string_view kind, std::string series, std::string what);
  // Reports the shared section parsers' faults as problems.
  index::FaultFn reporter();
  const index::Toc& toc() const { return layout_.toc; }
  // The body of a "len | body | CRC" section, or false after reporting why not.
  bool section(uint64_t offset, const std::string& what, std::span<const uint8_t>& body);
  bool check_header_and_toc();
  void check_symbols();
  void walk_series(const std::function<void(const IndexSeries&)>& on_series);
  // The offset of the next entry after checking the padding before it.
  uint64_t skip_padding(uint64_t pos);
  std::string entry_where(const Walk& w, uint32_t ref) const;
  // Reads the entry at w.pos into w (next: the offset after it); kSkip after
  // an entry that is damaged, kStop where the walk cannot go on.
  EntryRead read_entry(Walk& w, uint32_t ref, uint64_t& next);
  // w.labels and w.name from w.label_refs, or false (both empty).
  bool resolve_labels(Walk& w, uint32_t ref);
  void check_series_labels(Walk& w, uint32_t ref);
  void check_label_indices();
  void check_postings();
  void compare_name_sums(std::string_view name, const PairSum& got);
  void check_names_have_postings(std::vector<std::string_view>& names);
  void check_postings_refs(std::string_view name, std::string_view value, bool all,
                           std::span<const uint32_t> refs, PairSum& sum, bool& ok);
  std::string_view symbol(uint32_t ref) const;

  std::span<const uint8_t> bytes_;
  std::string file_;
  Report& report_;

  index::Layout layout_;

  bool symbols_ok_ = false;
  std::span<const uint8_t> symbols_body_;
  std::vector<uint32_t> symbol_offsets_;
  std::vector<uint64_t> symbol_hashes_;

  bool series_complete_ = false;
  uint64_t series_count_ = 0;
  uint64_t series_walked_to_ = 0;  // refs below this offset were all seen
  roaring::Roaring series_refs_;
  roaring::Roaring bad_series_refs_;  // entries found but unreadable
  // Per label name (symbol ref): checksum over the series' label pairs.
  std::unordered_map<uint32_t, PairSum> series_sums_;
  bool labels_complete_ = true;  // every series' labels were resolved
};

}  // namespace promblock::verify
