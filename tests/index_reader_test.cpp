// Tests of index::IndexReader: a real index Prometheus 2.42 wrote
// (tests/fixtures/index_small), and corrupt files of every kind: each must
// give a promblock::Error, never a crash, a hang or a wrong answer.
#include "index/index_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "index/index_writer.h"
#include "index/series_cursor.h"
#include "tests/test_util.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"

namespace promblock::index {
namespace {

using testing::read_bytes;
using testing::resident_kb_of;
using testing::TempDir;
using testing::write_bytes;

namespace fs = std::filesystem;

fs::path fixture_index() {
  return fs::path(__FILE__).parent_path() / "fixtures" / "index_small" / "block" / "index";
}

// Everything a reader can tell about an index, as text; reads every section.
std::string read_all(const std::string& path) {
  IndexReader r(path);
  std::string out;
  for (uint32_t i = 0; i < r.symbol_count(); ++i) out += std::string(r.symbol(i)) + "\n";
  for (auto name : r.label_names())
    r.for_each_postings(name, [&](std::string_view value, const roaring::Roaring& p) {
      out += std::string(name) + "=" + std::string(value) + ":" + p.toString() + "\n";
    });
  Labels ls;
  std::vector<ChunkMeta> cs;
  for (uint32_t ref : r.all_postings()) {
    r.series(ref, ls, cs);
    out += std::to_string(ref);
    out += labels_to_string(ls);
    for (const auto& c : cs) {
      out.append(" ").append(std::to_string(c.min_time)).append("..");
      out.append(std::to_string(c.max_time)).append("@").append(std::to_string(c.ref));
    }
    out += "\n";
  }
  return out;
}

// A small index of our own with every section non-trivial.
std::string write_small_index(const TempDir& dir) {
  const std::string path = dir.file("index");
  IndexWriter w(path);
  for (const char* s : {"", "__name__", "a", "b", "job", "up", "x", "y"}) w.add_symbol(s);
  ChunkMeta c1[] = {{-20, -10, 8}, {0, 5, 40}};
  ChunkMeta c2[] = {{1000, 2000, uint64_t(3) << 32 | 8}};
  w.add_series({{"__name__", "up"}, {"a", "x"}}, c1);
  w.add_series({{"__name__", "up"}, {"b", "y"}, {"job", "x"}}, c2);
  w.add_series({{"job", "y"}}, {});
  w.close();
  return path;
}

std::string error_of(const std::string& path) {
  try {
    read_all(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Toc read_toc(std::span<const uint8_t> b) {
  const uint8_t* t = b.data() + b.size() - kTocLen;
  return {enc::load_be64(t),      enc::load_be64(t + 8),  enc::load_be64(t + 16),
          enc::load_be64(t + 24), enc::load_be64(t + 32), enc::load_be64(t + 40)};
}

void rewrite_toc(std::vector<uint8_t>& b, const Toc& t) {
  enc::Encbuf e;
  for (uint64_t v : {t.symbols, t.series, t.label_indices, t.label_offset_table, t.postings,
                     t.postings_offset_table})
    e.put_be64(v);
  e.put_crc32c_of(0);
  std::copy(e.bytes().begin(), e.bytes().end(), b.end() - kTocLen);
}

// Recomputes the CRC of the "len | body | CRC" section at `offset`, so a test
// can plant a defect that only deeper checks find.
void fix_section_crc(std::vector<uint8_t>& b, uint64_t offset) {
  uint32_t len = enc::load_be32(b.data() + offset);
  enc::store_be32(b.data() + offset + 4 + len, enc::crc32c(b.data() + offset + 4, len));
}

TEST(IndexReaderTest, ReadsPrometheusIndex) {
  if (!fs::exists(fixture_index())) GTEST_SKIP() << fixture_index() << " missing";
  IndexReader r(fixture_index().string());
  ASSERT_EQ(r.symbol_count(), 23u);
  EXPECT_EQ(r.symbol(0), "");  // Prometheus's head stores the empty string
  EXPECT_EQ(r.symbol(r.symbol_count() - 1), "ünïcode \"q\"");  // bytewise order
  EXPECT_EQ(r.label_names(), (std::vector<std::string_view>{"__name__", "code", "instance", "job",
                                                            "note", "path", "room"}));
  EXPECT_EQ(r.label_values("__name__"), (std::vector<std::string_view>{"req_total", "temp", "up"}));
  EXPECT_EQ(r.label_values("note"), (std::vector<std::string_view>{"ünïcode \"q\""}));
  EXPECT_EQ(r.all_postings().cardinality(), 8u);
  EXPECT_EQ(r.postings("__name__", "req_total").cardinality(), 4u);
  EXPECT_EQ(r.postings("code", "201").toString(), "{16,19}");

  Labels ls;
  std::vector<ChunkMeta> cs;
  r.series(10, ls, cs);
  EXPECT_EQ(ls, (Labels{{"__name__", "req_total"}, {"code", "200"}, {"path", "/p0"}}));
  EXPECT_EQ(cs, (std::vector<ChunkMeta>{{1700000000000, 1700001270000, 8},
                                        {1700001280000, 1700002550000, 64},
                                        {1700002560000, 1700002590000, 120}}));
  r.series(28, ls, cs);
  EXPECT_EQ(ls,
            (Labels{{"__name__", "up"}, {"instance", "localhost:9090"}, {"job", "prometheus"}}));
  EXPECT_EQ(cs, (std::vector<ChunkMeta>{{1700000000000, 1700000000000, 1519}}));
}

TEST(IndexReaderTest, RejectsWrongMagicAndVersion) {
  TempDir dir;
  auto good = read_bytes(write_small_index(dir));
  const std::string path = dir.file("bad");

  auto b = good;
  b[0] = 0x12;
  write_bytes(path, b);
  EXPECT_EQ(error_of(path), path + ": invalid magic number 0x12aad700 (want 0xbaaad700)");

  for (uint8_t version : {0, 1, 4, 255}) {
    b = good;
    b[4] = version;
    write_bytes(path, b);
    EXPECT_EQ(error_of(path), path + ": unsupported index version " + std::to_string(version));
  }
  write_bytes(path, {});
  EXPECT_EQ(error_of(path), path + ": file too small for an index header (0 bytes)");
  // Version 3 reads as 2, as in Prometheus >= 2.55.
  b = good;
  b[4] = 3;
  write_bytes(path, b);
  EXPECT_EQ(error_of(path), "");
  EXPECT_NE(error_of(dir.file("missing")).find("cannot open"), std::string::npos);
}

TEST(IndexReaderTest, EveryTruncationThrows) {
  TempDir dir;
  auto good = read_bytes(write_small_index(dir));
  const std::string path = dir.file("truncated");
  for (size_t len = 0; len < good.size(); ++len) {
    write_bytes(path, std::span(good).first(len));
    EXPECT_NE(error_of(path), "") << "length " << len;
  }
}

// Flipping any byte must either throw or, for padding that no CRC covers,
// change nothing that can be read.
TEST(IndexReaderTest, EveryFlippedByteThrowsOrIsPadding) {
  TempDir dir;
  for (bool prometheus : {false, true}) {
    std::string source = prometheus ? fixture_index().string() : write_small_index(dir);
    if (!fs::exists(source)) continue;
    auto good = read_bytes(source);
    const std::string expected = read_all(source);
    const std::string path = dir.file("flipped");
    size_t thrown = 0, padding = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      for (uint8_t mask : {0x41}) {  // two bits at once: one read per byte
        auto b = good;
        b[i] ^= mask;
        write_bytes(path, b);
        std::string err;
        std::string got;
        try {
          got = read_all(path);
        } catch (const Error& e) {
          err = e.what();
        }
        if (!err.empty()) {
          ++thrown;
          EXPECT_EQ(err.find('\n'), std::string::npos) << err;
        } else {
          ++padding;
          EXPECT_EQ(good[i], 0) << "byte " << i << " changed silently";
          EXPECT_EQ(got, expected) << "byte " << i;
        }
      }
    }
    EXPECT_GT(thrown, padding);
  }
}

// The reader's error for `good` with the byte at `pos` flipped, written to `path`.
std::string flipped_error(std::vector<uint8_t> good, uint64_t pos, const std::string& path) {
  good[pos] ^= 0x40;
  write_bytes(path, good);
  return error_of(path);
}

TEST(IndexReaderTest, ChecksumErrorsNameTheSection) {
  TempDir dir;
  const std::string source = write_small_index(dir);
  auto good = read_bytes(source);
  Toc t = read_toc(good);
  const std::string path = dir.file("bad");
  auto flip_and_read = [&](uint64_t pos) { return flipped_error(good, pos, path); };
  EXPECT_EQ(flip_and_read(t.symbols + 10), path + ": symbol table: checksum mismatch (CRC32-C)");
  EXPECT_EQ(flip_and_read(t.postings_offset_table + 10),
            path + ": postings offset table: checksum mismatch (CRC32-C)");
  EXPECT_EQ(flip_and_read(good.size() - 20),
            path + ": table of contents: checksum mismatch (CRC32-C)");

  IndexReader r(source);
  uint32_t first = *r.all_postings().begin();
  EXPECT_EQ(flip_and_read(first * 16 + 3),
            path + ": series " + std::to_string(first) + ": checksum mismatch (CRC32-C)");
  uint64_t postings_start = (t.postings + 3) / 4 * 4;
  EXPECT_EQ(flip_and_read(postings_start + 8),
            path + ": postings of (all)=\"\": checksum mismatch (CRC32-C)");
}

// Prometheus before 3.7 writes label indices: where a file has them, they
// are read and checked.
TEST(IndexReaderTest, LabelIndicesOfPrometheus2AreChecked) {
  TempDir dir;
  auto good = read_bytes(fixture_index().string());
  Toc t = read_toc(good);
  ASSERT_NE(t.label_offset_table, t.postings_offset_table);
  const std::string path = dir.file("bad");
  auto flip_and_read = [&](uint64_t pos) { return flipped_error(good, pos, path); };
  EXPECT_EQ(flip_and_read(t.label_offset_table + 9),
            path + ": label offset table: checksum mismatch (CRC32-C)");
  uint64_t label_index_start = (t.label_indices + 3) / 4 * 4;
  EXPECT_EQ(flip_and_read(label_index_start + 12),
            path + ": label index of \"__name__\": checksum mismatch (CRC32-C)");
}

// The 2.42 fixture laid out as Prometheus 3.7+ writes it, with version byte
// 2 and 3 (testdata/prom3/to_prom3_index.py): everything reads the same.
TEST(IndexReaderTest, ReadsPrometheus3Layout) {
  const fs::path dir = fixture_index().parent_path().parent_path();
  const std::string want = read_all(fixture_index().string());
  ASSERT_FALSE(want.empty());
  for (const char* name : {"index_prom3", "index_prom3_v3"}) {
    SCOPED_TRACE(name);
    const std::string path = (dir / name).string();
    EXPECT_EQ(read_all(path), want);
    IndexReader r(path);
    EXPECT_FALSE(r.layout().has_label_indices());
    EXPECT_EQ(r.toc().label_offset_table, r.toc().postings_offset_table);
  }
}

TEST(IndexReaderTest, RejectsBadTocOffsets) {
  TempDir dir;
  auto good = read_bytes(write_small_index(dir));
  const std::string path = dir.file("bad");
  Toc t = read_toc(good);
  auto b = good;
  Toc bad = t;
  bad.postings_offset_table = good.size() + 100;
  rewrite_toc(b, bad);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("postings offset table offset"), std::string::npos);

  bad = t;
  bad.symbols = 2;
  rewrite_toc(b, bad);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("symbols offset 2 outside the file"), std::string::npos);

  bad = t;
  bad.symbols = t.series;  // points at a series entry, not a symbol table
  rewrite_toc(b, bad);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("symbol table"), std::string::npos);
}

TEST(IndexReaderTest, HugeCountsFailBeforeAllocating) {
  // A crafted index claiming 2^32-1 symbols, or an all-postings list of
  // 2^32-1 series, with checksums that match: the counts are checked against
  // the bytes that could hold them before anything is reserved for them (a
  // reserve of 2^32 entries would abort this sanitized test binary).
  TempDir dir;
  auto good = read_bytes(write_small_index(dir));
  Toc t = read_toc(good);
  const std::string path = dir.file("huge");

  auto b = good;
  enc::store_be32(b.data() + t.symbols + 4, 0xffffffff);
  fix_section_crc(b, t.symbols);
  write_bytes(path, b);
  EXPECT_EQ(error_of(path), path + ": symbol table: count 4294967295 exceeds its size");

  b = good;
  uint64_t all = (t.postings + 3) / 4 * 4;
  enc::store_be32(b.data() + all + 4, 0xffffffff);
  fix_section_crc(b, all);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("4294967295 entries do not fill"), std::string::npos)
      << error_of(path);
}

TEST(IndexReaderTest, RejectsDefectsBehindValidChecksums) {
  TempDir dir;
  const std::string source = write_small_index(dir);
  auto good = read_bytes(source);
  Toc t = read_toc(good);
  const std::string path = dir.file("bad");

  // All-postings list with two refs swapped: not increasing.
  auto b = good;
  uint64_t all = (t.postings + 3) / 4 * 4;
  uint32_t count = enc::load_be32(b.data() + all + 4);
  ASSERT_EQ(count, 3u);
  uint32_t r0 = enc::load_be32(b.data() + all + 8), r1 = enc::load_be32(b.data() + all + 12);
  enc::store_be32(b.data() + all + 8, r1);
  enc::store_be32(b.data() + all + 12, r0);
  fix_section_crc(b, all);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("series refs not increasing"), std::string::npos) << error_of(path);

  // A postings ref past the series section.
  b = good;
  enc::store_be32(b.data() + all + 16, 0x7fffffff);
  fix_section_crc(b, all);
  write_bytes(path, b);
  EXPECT_NE(error_of(path).find("outside the series section"), std::string::npos);

  // Symbol table out of order: "a" after "__name__" becomes "_".
  b = good;
  b[t.symbols + 4 + 4 + 1 + 9 + 1] = '_';
  fix_section_crc(b, t.symbols);
  write_bytes(path, b);
  EXPECT_EQ(error_of(path), path + ": symbol table: symbol 2 \"_\" not after \"__name__\"");

  IndexReader r(source);
  Labels ls;
  std::vector<ChunkMeta> cs;
  EXPECT_THROW(r.series(0, ls, cs), Error);
  EXPECT_THROW(r.series(0xffffffff, ls, cs), Error);
  EXPECT_THROW(r.series(*r.all_postings().begin() + 1, ls, cs), Error);  // mid-entry
  EXPECT_THROW(r.symbol(r.symbol_count()), Error);

  // Defects inside the first series entry, {__name__="up", a="x"}: its body
  // is label count, 4 symbol refs, chunk count, chunks.
  const uint32_t first = *r.all_postings().begin();
  const uint64_t entry = uint64_t(first) * 16;
  const uint8_t len = good[entry];
  ASSERT_EQ(std::vector<uint8_t>(good.begin() + long(entry) + 1, good.begin() + long(entry) + 7),
            (std::vector<uint8_t>{2, 1, 5, 2, 6, 2}));
  auto plant = [&](std::initializer_list<std::pair<int, uint8_t>> changes) {
    auto b = good;
    for (auto [at, v] : changes) b[entry + 1 + at] = v;
    enc::store_be32(b.data() + entry + 1 + len, enc::crc32c(b.data() + entry + 1, len));
    write_bytes(path, b);
    return error_of(path);
  };
  const std::string series = path + ": series " + std::to_string(first) + ": ";
  EXPECT_EQ(plant({{1, 2}, {2, 6}, {3, 1}, {4, 5}}),
            series + "label names not sorted or not unique");
  EXPECT_EQ(plant({{2, 100}}), series + "symbol ref 100 out of range (8 symbols)");
  EXPECT_EQ(plant({{5, 50}}), series + "chunk count 50 exceeds entry size");
  EXPECT_EQ(plant({{5, 1}}), series + "3 trailing bytes");
  EXPECT_EQ(plant({{0, 0x80}}), series + "label count 128 exceeds entry size");
}

// An index of 20000 series {instance="host-1NNNNN"} with 8 chunks each:
// every section spans many pages.
std::string write_hosts_index(const TempDir& dir) {
  const std::string path = dir.file("index");
  IndexWriter w(path);
  std::vector<std::string> values;
  for (int i = 0; i < 20000; ++i) values.push_back("host-" + std::to_string(100000 + i));
  std::vector<std::string> symbols = values;
  symbols.push_back("instance");
  std::sort(symbols.begin(), symbols.end());
  for (const auto& s : symbols) w.add_symbol(s);
  std::vector<ChunkMeta> chunks;
  for (int k = 0; k < 8; ++k) chunks.push_back({k * 1000, k * 1000 + 999, uint64_t(8 + 100 * k)});
  for (const auto& v : values) w.add_series({{"instance", v}}, chunks);
  w.close();
  return path;
}

std::vector<uint32_t> all_refs(const IndexReader& r) {
  std::vector<uint32_t> refs;
  for (uint32_t ref : r.all_postings()) refs.push_back(ref);
  return refs;
}

TEST(IndexReaderTest, TablesReadAtOpenDoNotStayResident) {
  // Opening reads the postings offset table (about 400 kB here), the label
  // indices and the symbols (about 240 kB, copied) into memory: the pages
  // of all of them go.
  TempDir dir;
  const std::string path = write_hosts_index(dir);
  IndexReader r(path);
  long resident = resident_kb_of(fs::canonical(path).string());
  EXPECT_LE(resident, 16) << "kB of the index resident after open";
  // Postings lists, whose pages go once read, read again the same.
  auto all = r.all_postings();
  EXPECT_EQ(all.cardinality(), 20000u);
  EXPECT_EQ(r.all_postings(), all);
  EXPECT_EQ(r.postings("instance", "host-100007").cardinality(), 1u);
  EXPECT_EQ(r.symbol(r.symbol_count() - 1), "instance");
}

TEST(IndexReaderTest, ReleasingSeriesDropsTheirPagesAndKeepsThemReadable) {
  TempDir dir;
  const std::string path = write_hosts_index(dir);
  IndexReader r(path);
  std::vector<uint32_t> refs = all_refs(r);
  ASSERT_EQ(refs.size(), 20000u);
  Labels labels;
  std::vector<ChunkMeta> chunks;
  for (uint32_t ref : refs) r.series(ref, labels, chunks);
  long before = resident_kb_of(fs::canonical(path).string());
  ASSERT_GT(before, 512) << "the series section (20000 entries) should be resident once read";

  r.release_series_before(refs.back());
  long after = resident_kb_of(fs::canonical(path).string());
  EXPECT_LT(after, before - 256) << "released pages stay resident: " << before << " -> " << after;

  // Still readable, and unchanged.
  r.series(refs[12345], labels, chunks);
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].value, "host-112345");
  ASSERT_EQ(chunks.size(), 8u);
  EXPECT_EQ(chunks[7].ref, 708u);
}

TEST(SeriesCursorTest, ReadsWhatTheMappingReadsAndMapsNothing) {
  TempDir dir;
  const std::string path = write_hosts_index(dir);
  IndexReader r(path);
  const std::vector<uint32_t> refs = all_refs(r);
  const std::string canonical = fs::canonical(path).string();
  long before = resident_kb_of(canonical);
  SeriesCursor cursor(r);
  std::vector<Labels> labels(refs.size());
  std::vector<std::vector<ChunkMeta>> chunks(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) cursor.series(refs[i], labels[i], chunks[i]);
  EXPECT_LE(resident_kb_of(canonical), before) << "kB mapped by a pass with the cursor";

  Labels want;
  std::vector<ChunkMeta> want_chunks;
  for (size_t i = 0; i < refs.size(); ++i) {
    r.series(refs[i], want, want_chunks);
    ASSERT_EQ(labels[i], want) << "series " << refs[i];
    ASSERT_EQ(chunks[i].size(), want_chunks.size());
    for (size_t k = 0; k < want_chunks.size(); ++k) ASSERT_EQ(chunks[i][k].ref, want_chunks[k].ref);
  }
  // A step back reads again.
  cursor.series(refs[17], want, want_chunks);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(want[0].value, "host-100017");
}

TEST(SeriesCursorTest, ReadsEntriesLargerThanItsBuffer) {
  TempDir dir;
  const std::string path = dir.file("index");
  {
    IndexWriter w(path);
    for (const char* s : {"a", "b", "c", "n"}) w.add_symbol(s);
    std::vector<ChunkMeta> many, few = {{0, 9, 8}};
    for (int k = 0; k < 20000; ++k) many.push_back({k * 10, k * 10 + 9, uint64_t(8 + 200 * k)});
    w.add_series({{"n", "a"}}, few);
    w.add_series({{"n", "b"}}, many);  // about 100 kB
    w.add_series({{"n", "c"}}, few);
    w.close();
  }
  IndexReader r(path);
  SeriesCursor cursor(r);
  Labels labels;
  std::vector<ChunkMeta> chunks;
  std::vector<size_t> counts;
  for (uint32_t ref : r.all_postings()) {
    cursor.series(ref, labels, chunks);
    counts.push_back(chunks.size());
  }
  EXPECT_EQ(counts, (std::vector<size_t>{1, 20000, 1}));
  EXPECT_EQ(chunks[0].ref, 8u);
}

TEST(SeriesCursorTest, ReportsDamageAsTheMappingDoes) {
  TempDir dir;
  const std::string good = write_small_index(dir);
  auto bytes = read_bytes(good);
  const Toc toc = read_toc(bytes);
  // Every byte of the series section flipped in turn (entries, padding).
  for (uint64_t at = toc.series; at < toc.label_indices; ++at) {
    auto bad = bytes;
    bad[at] ^= 0x40;
    const std::string path = dir.file("bad" + std::to_string(at));
    write_bytes(path, bad);
    std::unique_ptr<IndexReader> r;
    try {
      r = std::make_unique<IndexReader>(path);
    } catch (const Error&) {
      continue;  // found at open
    }
    SeriesCursor cursor(*r);
    for (uint32_t ref = uint32_t(toc.series / 16); ref < uint32_t(toc.label_indices / 16); ++ref) {
      auto error = [&](auto&& read) -> std::string {
        Labels ls;
        std::vector<ChunkMeta> cs;
        try {
          read(ref, ls, cs);
        } catch (const Error& e) {
          return e.what();
        }
        return labels_to_string(ls) + std::to_string(cs.size());
      };
      EXPECT_EQ(
          error([&](uint32_t f, Labels& l, std::vector<ChunkMeta>& c) { cursor.series(f, l, c); }),
          error([&](uint32_t f, Labels& l, std::vector<ChunkMeta>& c) { r->series(f, l, c); }))
          << "byte " << at << ", ref " << ref;
    }
  }
}

}  // namespace
}  // namespace promblock::index
