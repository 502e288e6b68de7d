#pragma once
// Writes an index file in Prometheus's format v2, laid out byte for byte as
// Prometheus 3.7+'s own writer (tsdb/index/index.go) lays out the same input:
//
//   header | symbol table | series (16-aligned)
//   | postings (4-aligned; the all-postings list first)
//   | postings offset table | TOC
//
// No label indices: nothing reads them (Prometheus 2.x included), and 3.7
// stopped writing them. The TOC points them at the postings and the
// postings offset table, as 3.7+ does.
//
// Use: add_symbol() for every symbol in increasing order, then add_series()
// in increasing label order, then close(). Memory grows with the symbols and
// with one uint32 per (label pair, series); series data is streamed out.
// Prometheus's head stores the empty string as a symbol (from its all-postings
// key); pass it when copying a Prometheus block's symbols to match its bytes.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "index/format.h"
#include "index/series_codec.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/file_writer.h"
#include "tsdb/model/labels.h"

namespace promblock::index {

class IndexWriter {
 public:
  // Creates or truncates the file and writes the header.
  explicit IndexWriter(const std::string& path);

  // Symbols must come first, each greater than the one before.
  void add_symbol(std::string_view symbol);

  // Adds a series; label sets must be strictly increasing (compare_labels),
  // every name and value must be a symbol, chunk metas sorted by min time
  // with max >= min. Returns the series ref (entry offset / 16).
  uint32_t add_series(const Labels& labels, std::span<const ChunkMeta> chunks);
  // As add_series, with the entry's chunk part encoded already
  // (encode_chunk_metas, of metas check_chunk_metas passed): a merge
  // encodes it on a worker thread.
  uint32_t add_series_encoded(const Labels& labels, std::span<const uint8_t> chunk_part);

  // Writes postings, the postings offset table and TOC, and starts them
  // on their way to disk: the file is complete (its size final) but not
  // yet synced.
  void finish_writing();
  // Finishes writing where that was not done; fsyncs and closes.
  void close();

  const std::string& path() const { return file_.path(); }

 private:
  enum class Stage { kSymbols, kSeries, kWritten, kDone };

  void finish_symbols();
  // A series entry: the checks every series passes, then its labels'
  // part of the body (in body_), then, with its chunk part appended,
  // the entry written.
  void check_next_series(const Labels& labels);
  void start_entry(const Labels& labels);
  uint32_t write_entry();
  // Index of `symbol` in the sorted table; throws when it was not added.
  uint32_t symbol_ref(std::string_view symbol, const Labels& series) const;
  std::string_view symbol_at(uint32_t ref) const;
  void encode_label_refs(const Labels& labels);
  void write_series_entry();
  void write_postings(std::span<const uint64_t> sorted_keys, std::vector<uint64_t>& offsets);
  void write_postings_list(std::span<const uint32_t> refs);
  void write_postings_offset_table(std::span<const uint64_t> sorted_keys,
                                   std::span<const uint64_t> offsets);
  void write_toc();
  void check_size() const;
  // Runs a public operation; a failure leaves the writer unusable, so later
  // calls report that instead of writing a malformed file.
  template <typename F>
  auto guarded(F&& f);

  // A section "len <4b> | body | CRC32-C <4b>" whose len is patched in when
  // the body is done, so bodies of any size are streamed.
  class Section {
   public:
    explicit Section(FileWriter& file);
    void put(std::span<const uint8_t> bytes);
    void finish();

   private:
    FileWriter& file_;
    uint64_t start_;
    uint32_t crc_ = 0;
  };

  FileWriter file_;
  Toc toc_;
  Stage stage_ = Stage::kSymbols;
  bool failed_ = false;

  // All symbols back to back; symbol i is [symbol_starts_[i], [i+1]).
  std::string symbol_bytes_;
  std::vector<uint64_t> symbol_starts_{0};

  Labels last_labels_;
  std::vector<LabelRefs> label_refs_;  // of last_labels_, reused when equal

  // Postings per label pair, keyed by name ref << 32 | value ref; symbol
  // refs sort like their strings, so sorted keys give the on-disk order.
  std::unordered_map<uint64_t, std::vector<uint32_t>> postings_;
  std::vector<uint32_t> all_postings_;

  enc::Encbuf buf_;
  enc::Encbuf body_;
};

}  // namespace promblock::index
