#include "index/index_writer.h"

#include <algorithm>
#include <limits>

#include "tsdb/base/error.h"

namespace promblock::index {

namespace {

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();

uint64_t pair_key(uint32_t name, uint32_t value) { return uint64_t(name) << 32 | value; }
uint32_t key_name(uint64_t key) { return uint32_t(key >> 32); }
uint32_t key_value(uint64_t key) { return uint32_t(key); }

}  // namespace

// ---- Section ----

IndexWriter::Section::Section(FileWriter& file) : file_(file), start_(file.pos()) {
  static constexpr uint8_t kLenPlaceholder[4] = {};
  file_.write(kLenPlaceholder);
}

void IndexWriter::Section::put(std::span<const uint8_t> bytes) {
  crc_ = enc::crc32c(bytes, crc_);
  file_.write(bytes);
}

void IndexWriter::Section::finish() {
  uint64_t len = file_.pos() - start_ - 4;
  if (len > kMaxU32) fail(file_.path(), "section at " + std::to_string(start_) + " exceeds 4 GiB");
  uint8_t b[4];
  enc::store_be32(b, uint32_t(len));
  file_.write_at(start_, b);
  enc::store_be32(b, crc_);
  file_.write(b);
}

// ---- IndexWriter ----

template <typename F>
auto IndexWriter::guarded(F&& f) {
  if (failed_) fail(path(), "index writer used after an earlier error");
  try {
    return f();
  } catch (...) {
    failed_ = true;
    throw;
  }
}

// Enough to make writes large: series are streamed out as they come, and
// a larger buffer would only sit in memory (1 MB measured no faster).
constexpr size_t kIndexBufferSize = size_t(256) << 10;

IndexWriter::IndexWriter(const std::string& path) : file_(path, kIndexBufferSize) {
  buf_.put_be32(kMagic);
  buf_.put_byte(kFormatV2);
  file_.write(buf_.bytes());
  toc_.symbols = file_.pos();
  // Symbol table length and count are patched in by finish_symbols().
  static constexpr uint8_t kPlaceholder[8] = {};
  file_.write(kPlaceholder);
}

void IndexWriter::add_symbol(std::string_view symbol) {
  guarded([&] {
    if (stage_ != Stage::kSymbols) fail(path(), "symbol added after series");
    if (symbol_starts_.size() > 1 && symbol <= symbol_at(uint32_t(symbol_starts_.size() - 2)))
      fail(path(), "symbol \"" + std::string(symbol) + "\" added out of order");
    if (symbol_starts_.size() - 1 >= kMaxU32) fail(path(), "too many symbols");
    buf_.clear();
    buf_.put_uvarint_str(symbol);
    file_.write(buf_.bytes());
    symbol_bytes_.append(symbol);
    symbol_starts_.push_back(symbol_bytes_.size());
  });
}

std::string_view IndexWriter::symbol_at(uint32_t ref) const {
  return std::string_view(symbol_bytes_)
      .substr(symbol_starts_[ref], symbol_starts_[ref + 1] - symbol_starts_[ref]);
}

uint32_t IndexWriter::symbol_ref(std::string_view symbol, const Labels& series) const {
  uint32_t lo = 0, hi = uint32_t(symbol_starts_.size() - 1);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (symbol_at(mid) < symbol)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == symbol_starts_.size() - 1 || symbol_at(lo) != symbol)
    fail(path(), "symbol \"" + std::string(symbol) + "\" of series " + labels_to_string(series) +
                     " was not added");
  return lo;
}

void IndexWriter::finish_symbols() {
  uint64_t table_len = file_.pos() - toc_.symbols - 4;  // count + entries
  if (table_len > kMaxU32) fail(path(), "symbol table exceeds 4 GiB");
  uint32_t count = uint32_t(symbol_starts_.size() - 1);
  uint8_t head[8];
  enc::store_be32(head, uint32_t(table_len));
  enc::store_be32(head + 4, count);
  file_.write_at(toc_.symbols, head);

  // The CRC covers the count, known only now; recompute it from the symbols
  // kept in memory instead of reading the file back.
  uint32_t crc = enc::crc32c(std::span<const uint8_t>(head + 4, 4));
  for (uint32_t i = 0; i < count; ++i) {
    buf_.clear();
    buf_.put_uvarint_str(symbol_at(i));
    crc = enc::crc32c(buf_.bytes(), crc);
  }
  buf_.clear();
  buf_.put_be32(crc);
  file_.write(buf_.bytes());
  toc_.series = file_.pos();
  stage_ = Stage::kSeries;
}

void IndexWriter::encode_label_refs(const Labels& labels) {
  // Consecutive series share most labels, so reuse the previous refs when
  // the label at the same position is unchanged.
  std::vector<LabelRefs> refs;
  refs.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& l = labels[i];
    // An empty name would collide with the all-postings key.
    if (l.name.empty())
      fail(path(), "series " + labels_to_string(labels) + " has an empty label name");
    if (i > 0 && l.name <= labels[i - 1].name)
      fail(path(), "labels of series " + labels_to_string(labels) + " not sorted or not unique");
    bool same_name = i < last_labels_.size() && last_labels_[i].name == l.name;
    uint32_t name = same_name ? label_refs_[i].first : symbol_ref(l.name, labels);
    uint32_t value = same_name && last_labels_[i].value == l.value ? label_refs_[i].second
                                                                   : symbol_ref(l.value, labels);
    refs.emplace_back(name, value);
  }
  label_refs_ = std::move(refs);
}

uint32_t IndexWriter::add_series(const Labels& labels, std::span<const ChunkMeta> chunks) {
  return guarded([&] {
    check_next_series(labels);
    if (auto bad = check_chunk_metas(chunks); !bad.empty())
      fail(path(), "series " + labels_to_string(labels) + ": " + bad);
    start_entry(labels);
    encode_chunk_metas(body_, chunks);
    return write_entry();
  });
}

uint32_t IndexWriter::add_series_encoded(const Labels& labels,
                                         std::span<const uint8_t> chunk_part) {
  return guarded([&] {
    check_next_series(labels);
    start_entry(labels);
    body_.put_bytes(chunk_part);
    return write_entry();
  });
}

void IndexWriter::check_next_series(const Labels& labels) {
  if (stage_ == Stage::kWritten || stage_ == Stage::kDone)
    fail(path(), "series added after the index was finished");
  if (stage_ == Stage::kSymbols) finish_symbols();
  if (labels.empty()) fail(path(), "series with an empty label set");
  if (!all_postings_.empty() && compare_labels(labels, last_labels_) <= 0)
    fail(path(), "series " + labels_to_string(labels) + " added out of order (after " +
                     labels_to_string(last_labels_) + ")");
}

void IndexWriter::start_entry(const Labels& labels) {
  encode_label_refs(labels);
  last_labels_ = labels;
  body_.clear();
  encode_series_labels(body_, label_refs_);
}

uint32_t IndexWriter::write_entry() {
  file_.pad_to(kSeriesAlign);
  uint64_t ref64 = file_.pos() / kSeriesAlign;
  if (ref64 > kMaxU32) fail(path(), "index exceeds 64 GiB");
  uint32_t ref = uint32_t(ref64);

  buf_.clear();
  buf_.put_uvarint(body_.size());
  file_.write(buf_.bytes());
  body_.put_crc32c_of(0);
  file_.write(body_.bytes());
  check_size();

  for (const auto& [name, value] : label_refs_) postings_[pair_key(name, value)].push_back(ref);
  all_postings_.push_back(ref);
  return ref;
}

void IndexWriter::check_size() const {
  if (file_.pos() > kMaxIndexSize) fail(path(), "index exceeds 64 GiB");
}

void IndexWriter::finish_writing() {
  guarded([&] {
    if (stage_ == Stage::kWritten || stage_ == Stage::kDone) return;
    if (stage_ == Stage::kSymbols) finish_symbols();

    std::vector<uint64_t> keys;
    keys.reserve(postings_.size());
    for (const auto& entry : postings_) keys.push_back(entry.first);
    std::sort(keys.begin(), keys.end());

    // Prometheus >= 3.7 writes no label indices (nothing reads them) and
    // points their TOC entries at the postings and the postings offset
    // table; both postings entries are recorded before the padding.
    toc_.label_indices = file_.pos();
    toc_.postings = file_.pos();
    std::vector<uint64_t> postings_offsets;
    write_postings(keys, postings_offsets);

    toc_.label_offset_table = file_.pos();
    toc_.postings_offset_table = file_.pos();
    write_postings_offset_table(keys, postings_offsets);

    write_toc();
    check_size();
    file_.finish_writing();
    stage_ = Stage::kWritten;
  });
}

void IndexWriter::close() {
  finish_writing();
  guarded([&] {
    if (stage_ == Stage::kDone) return;
    file_.close();
    stage_ = Stage::kDone;
  });
}

void IndexWriter::write_postings_list(std::span<const uint32_t> refs) {
  file_.pad_to(kListAlign);
  if (refs.size() > (kMaxU32 - 4) / 4) fail(path(), "postings list exceeds 4 GiB");
  Section section(file_);
  buf_.clear();
  buf_.put_be32(uint32_t(refs.size()));
  for (uint32_t r : refs) buf_.put_be32(r);
  section.put(buf_.bytes());
  section.finish();
}

void IndexWriter::write_postings(std::span<const uint64_t> sorted_keys,
                                 std::vector<uint64_t>& offsets) {
  file_.pad_to(kListAlign);
  offsets.reserve(sorted_keys.size() + 1);
  offsets.push_back(file_.pos());
  write_postings_list(all_postings_);
  std::vector<uint32_t>().swap(all_postings_);
  for (uint64_t key : sorted_keys) {
    offsets.push_back(file_.pos());
    auto it = postings_.find(key);
    write_postings_list(it->second);
    postings_.erase(it);  // give memory back as we go
  }
}

void IndexWriter::write_postings_offset_table(std::span<const uint64_t> sorted_keys,
                                              std::span<const uint64_t> offsets) {
  Section section(file_);
  buf_.clear();
  buf_.put_be32(uint32_t(sorted_keys.size() + 1));
  section.put(buf_.bytes());
  auto put_entry = [&](std::string_view name, std::string_view value, uint64_t offset) {
    buf_.clear();
    buf_.put_uvarint(2);  // names per entry: name and value
    buf_.put_uvarint_str(name);
    buf_.put_uvarint_str(value);
    buf_.put_uvarint(offset);
    section.put(buf_.bytes());
  };
  put_entry("", "", offsets[0]);  // all postings
  for (size_t i = 0; i < sorted_keys.size(); ++i)
    put_entry(symbol_at(key_name(sorted_keys[i])), symbol_at(key_value(sorted_keys[i])),
              offsets[i + 1]);
  section.finish();
}

void IndexWriter::write_toc() {
  buf_.clear();
  buf_.put_be64(toc_.symbols);
  buf_.put_be64(toc_.series);
  buf_.put_be64(toc_.label_indices);
  buf_.put_be64(toc_.label_offset_table);
  buf_.put_be64(toc_.postings);
  buf_.put_be64(toc_.postings_offset_table);
  buf_.put_crc32c_of(0);
  file_.write(buf_.bytes());
}

}  // namespace promblock::index
