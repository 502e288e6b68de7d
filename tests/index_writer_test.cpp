// Tests of index::IndexWriter: round trips through IndexReader, the byte
// layout, input validation, I/O errors, and byte identity with an index
// Prometheus 2.42 wrote (tests/fixtures/index_small).
#include "index/index_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "index/index_reader.h"
#include "index/series_codec.h"
#include "tests/test_util.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"

namespace promblock::index {
namespace {

using testing::numbered;
using testing::read_bytes;
using testing::TempDir;

namespace fs = std::filesystem;

std::vector<uint32_t> to_vector(const roaring::Roaring& r) {
  std::vector<uint32_t> out(r.cardinality());
  r.toUint32Array(out.data());
  return out;
}

// Adds the sorted union of every label name and value of `series`.
void add_symbols_of(IndexWriter& w, const std::vector<Labels>& series, bool with_empty = true) {
  std::set<std::string> symbols;
  if (with_empty) symbols.insert("");
  for (const auto& ls : series)
    for (const auto& l : ls) symbols.insert(l.name), symbols.insert(l.value);
  for (const auto& s : symbols) w.add_symbol(s);
}

fs::path fixture_dir() { return fs::path(__FILE__).parent_path() / "fixtures" / "index_small"; }

TEST(IndexWriterTest, RoundTripsSymbolsLabelsPostingsAndChunks) {
  TempDir dir;
  const std::string path = dir.file("index");
  std::vector<Labels> series = {
      {{"__name__", "a"}, {"job", "x"}},
      {{"__name__", "a"}, {"job", "y"}},
      {{"__name__", "b"}, {"instance", "h:1"}, {"job", "x"}},
      {{"__name__", "b"}, {"instance", "h:2"}},
  };
  std::vector<std::vector<ChunkMeta>> chunks = {
      {},
      {{-5000, -1000, 8}, {-999, 20, 1}, {21, 21, (uint64_t(7) << 32) | 123456}},
      {{INT64_MIN, INT64_MIN + 5, ~uint64_t(0)}, {0, INT64_MAX, 0}},
      // Overlapping chunks round-trip through wrapped deltas.
      {{100, 200, 8}, {150, 300, 200}, {150, 160, 100}},
  };
  std::vector<uint32_t> refs;
  {
    IndexWriter w(path);
    add_symbols_of(w, series);
    for (size_t i = 0; i < series.size(); ++i) refs.push_back(w.add_series(series[i], chunks[i]));
    w.close();
  }
  EXPECT_TRUE(std::is_sorted(refs.begin(), refs.end()));

  IndexReader r(path);
  EXPECT_EQ(r.path(), path);
  EXPECT_EQ(r.size(), fs::file_size(path));
  ASSERT_EQ(r.symbol_count(), 10u);
  EXPECT_EQ(r.symbol(0), "");
  EXPECT_EQ(r.symbol(1), "__name__");
  EXPECT_EQ(r.symbol(9), "y");
  EXPECT_THROW(r.symbol(10), Error);

  EXPECT_EQ(r.label_names(), (std::vector<std::string_view>{"__name__", "instance", "job"}));
  EXPECT_EQ(r.label_values("job"), (std::vector<std::string_view>{"x", "y"}));
  EXPECT_EQ(r.label_values("instance"), (std::vector<std::string_view>{"h:1", "h:2"}));
  EXPECT_TRUE(r.label_values("nope").empty());

  EXPECT_EQ(to_vector(r.all_postings()), refs);
  EXPECT_EQ(to_vector(r.postings("job", "x")), (std::vector<uint32_t>{refs[0], refs[2]}));
  EXPECT_EQ(to_vector(r.postings("__name__", "b")), (std::vector<uint32_t>{refs[2], refs[3]}));
  EXPECT_TRUE(r.postings("job", "z").isEmpty());
  EXPECT_TRUE(r.postings("nope", "x").isEmpty());

  std::vector<std::string> seen;
  r.for_each_postings("job", [&](std::string_view v, const roaring::Roaring& p) {
    seen.push_back(std::string(v) + ":" + std::to_string(p.cardinality()));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"x:2", "y:1"}));
  auto matching = r.postings_matching("instance", [](std::string_view v) { return v != "h:1"; });
  EXPECT_EQ(to_vector(matching), (std::vector<uint32_t>{refs[3]}));

  for (size_t i = 0; i < series.size(); ++i) {
    Labels ls;
    std::vector<ChunkMeta> cs = {{1, 2, 3}};  // must be replaced
    r.series(refs[i], ls, cs);
    EXPECT_EQ(ls, series[i]);
    EXPECT_EQ(cs, chunks[i]) << "series " << i;
  }
}

TEST(IndexWriterTest, LayoutFollowsPrometheus) {
  TempDir dir;
  const std::string path = dir.file("index");
  std::vector<Labels> series;
  for (int i = 0; i < 50; ++i)
    series.push_back({{"__name__", "m"}, {"i", std::to_string(1000 + i)}});
  {
    IndexWriter w(path);
    add_symbols_of(w, series);
    for (const auto& s : series) {
      ChunkMeta c{1, 2, 8};
      w.add_series(s, std::span(&c, 1));
    }
    w.close();
  }
  auto b = read_bytes(path);
  ASSERT_GE(b.size(), kHeaderLen + kTocLen);
  EXPECT_EQ(enc::load_be32(b.data()), kMagic);
  EXPECT_EQ(b[4], kFormatV2);
  const uint8_t* toc = b.data() + b.size() - kTocLen;
  EXPECT_EQ(enc::crc32c(toc, 48), enc::load_be32(toc + 48));
  Toc t{enc::load_be64(toc),      enc::load_be64(toc + 8),  enc::load_be64(toc + 16),
        enc::load_be64(toc + 24), enc::load_be64(toc + 32), enc::load_be64(toc + 40)};
  EXPECT_EQ(t.symbols, kHeaderLen);
  // Section order on disk (Prometheus 3.7+): symbols, series, postings,
  // postings offset table; no label indices, their TOC entries pointing at
  // the postings (unpadded) and at the postings offset table.
  EXPECT_LT(t.symbols, t.series);
  EXPECT_LT(t.series, t.postings);
  EXPECT_EQ(t.label_indices, t.postings);
  EXPECT_LT(t.postings, t.postings_offset_table);
  EXPECT_EQ(t.label_offset_table, t.postings_offset_table);
  // Symbol table: len covers the count and entries; CRC follows them.
  uint32_t sym_len = enc::load_be32(b.data() + t.symbols);
  EXPECT_EQ(enc::load_be32(b.data() + t.symbols + 4), 54u);  // "", __name__, i, m, 50 values
  EXPECT_EQ(t.series, t.symbols + 4 + sym_len + 4);
  EXPECT_EQ(enc::crc32c(b.data() + t.symbols + 4, sym_len),
            enc::load_be32(b.data() + t.symbols + 4 + sym_len));

  IndexReader r(path);
  for (uint32_t ref : r.all_postings()) EXPECT_GE(uint64_t(ref) * 16, t.series);
  EXPECT_EQ(r.all_postings().cardinality(), 50u);
}

TEST(IndexWriterTest, EmptyIndexIsReadable) {
  TempDir dir;
  const std::string path = dir.file("index");
  IndexWriter(path).close();
  IndexReader r(path);
  EXPECT_EQ(r.symbol_count(), 0u);
  EXPECT_TRUE(r.label_names().empty());
  EXPECT_TRUE(r.all_postings().isEmpty());
}

TEST(IndexWriterTest, ManySeriesRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("index");
  std::vector<Labels> series;
  for (int a = 0; a < 30; ++a)
    for (int b = 0; b < 40; ++b)
      series.push_back({{"a", numbered("v", 100 + a)}, {"b", numbered("w", 100 + b)}});
  std::vector<uint32_t> refs;
  {
    IndexWriter w(path);
    add_symbols_of(w, series, false);
    for (size_t i = 0; i < series.size(); ++i) {
      std::vector<ChunkMeta> cs;
      for (int k = 0; k < int(i % 5); ++k)
        cs.push_back({int64_t(k) * 1000, int64_t(k) * 1000 + 999, uint64_t(i) * 100 + uint64_t(k)});
      refs.push_back(w.add_series(series[i], cs));
    }
    w.close();
  }
  IndexReader r(path);
  EXPECT_EQ(r.symbol_count(), 2u + 30 + 40);
  EXPECT_EQ(r.label_values("b").size(), 40u);
  EXPECT_EQ(r.postings("a", "v105").cardinality(), 40u);
  EXPECT_EQ(r.postings("b", "w105").cardinality(), 30u);
  Labels ls;
  std::vector<ChunkMeta> cs;
  for (size_t i = 0; i < series.size(); ++i) {
    r.series(refs[i], ls, cs);
    ASSERT_EQ(ls, series[i]);
    ASSERT_EQ(cs.size(), i % 5);
    if (!cs.empty()) {
      EXPECT_EQ(cs.back().ref, uint64_t(i) * 100 + cs.size() - 1);
    }
  }
}

TEST(IndexWriterTest, SeriesWithEncodedChunksAreTheSameBytes) {
  // add_series_encoded takes the chunk part a merge's worker encoded:
  // the file must be byte for byte what add_series writes.
  TempDir dir;
  std::vector<Labels> series;
  for (int a = 0; a < 20; ++a) series.push_back({{"a", numbered("v", 100 + a)}, {"b", "x"}});
  auto chunks_of = [](size_t i) {
    std::vector<ChunkMeta> cs;
    for (int k = 0; k < int(i % 7); ++k)
      cs.push_back({int64_t(k) * 7200 - 3600, int64_t(k) * 7200 + int64_t(i),
                    (uint64_t(k % 3) << 32) + uint64_t(i) * 64 + uint64_t(k)});
    return cs;
  };
  auto write = [&](const std::string& path, bool encoded) {
    IndexWriter w(path);
    add_symbols_of(w, series);
    enc::Encbuf part;
    for (size_t i = 0; i < series.size(); ++i) {
      auto cs = chunks_of(i);
      if (!encoded) {
        w.add_series(series[i], cs);
        continue;
      }
      part.clear();
      encode_chunk_metas(part, cs);
      w.add_series_encoded(series[i], part.bytes());
    }
    w.close();
  };
  write(dir.file("plain"), false);
  write(dir.file("encoded"), true);
  EXPECT_EQ(read_bytes(dir.file("encoded")), read_bytes(dir.file("plain")));
  IndexReader r(dir.file("encoded"));
  Labels ls;
  std::vector<ChunkMeta> cs;
  r.series(r.postings("a", "v105").minimum(), ls, cs);
  EXPECT_EQ(ls, series[5]);
  EXPECT_EQ(cs, chunks_of(5));
}

TEST(IndexWriterTest, RejectsBadInput) {
  TempDir dir;
  auto expect_error = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error, want one containing \"" << part << "\"";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  {
    IndexWriter w(dir.file("i1"));
    w.add_symbol("b");
    expect_error([&] { w.add_symbol("a"); }, "out of order");
  }
  {
    IndexWriter w(dir.file("i2"));
    w.add_symbol("a");
    expect_error([&] { w.add_symbol("a"); }, "out of order");
    expect_error([&] { w.add_symbol("z"); }, "earlier error");
  }
  auto fresh = [&](const std::string& name) {
    auto w = std::make_unique<IndexWriter>(dir.file(name));
    for (const char* s : {"", "a", "b", "c"}) w->add_symbol(s);
    return w;
  };
  {
    auto w = fresh("i3");
    w->add_series({{"a", "b"}}, {});
    expect_error([&] { w->add_symbol("d"); }, "after series");
  }
  {
    auto w = fresh("i4");
    w->add_series({{"a", "c"}}, {});
    expect_error([&] { w->add_series({{"a", "b"}}, {}); }, "out of order");
  }
  {
    auto w = fresh("i5");
    w->add_series({{"a", "c"}}, {});
    expect_error([&] { w->add_series({{"a", "c"}}, {}); }, "out of order");
  }
  expect_error([&] { fresh("i6")->add_series({{"a", "x"}}, {}); }, "\"x\"");
  expect_error([&] { fresh("i7")->add_series({{"b", "a"}, {"a", "b"}}, {}); }, "not sorted");
  expect_error([&] { fresh("i8")->add_series({{"a", "a"}, {"a", "b"}}, {}); }, "not sorted");
  expect_error([&] { fresh("i9")->add_series({}, {}); }, "empty label set");
  expect_error([&] { fresh("i10")->add_series({{"", "a"}}, {}); }, "empty label name");
  ChunkMeta backwards{10, 9, 8};
  expect_error(
      [&] {
        fresh("i11")->add_series({{"a", "b"}}, std::span(&backwards, 1));
      },
      "before min time");
  ChunkMeta unsorted[] = {{10, 20, 8}, {5, 6, 9}};
  expect_error([&] { fresh("i12")->add_series({{"a", "b"}}, unsorted); }, "not sorted");
  {
    auto w = fresh("i13");
    w->close();
    expect_error([&] { w->add_series({{"a", "b"}}, {}); }, "after the index was finished");
  }
  {
    auto w = fresh("i14");
    w->finish_writing();
    expect_error([&] { w->add_series({{"a", "b"}}, {}); }, "after the index was finished");
  }
}

// finish_writing() leaves the file complete, its size final, before close()
// syncs it (a block's commit lists the index's size in meta.json meanwhile).
TEST(IndexWriterTest, FinishWritingCompletesTheFileBeforeClose) {
  TempDir dir;
  auto write = [&](const std::string& name, bool finish_first) {
    IndexWriter w(dir.file(name));
    for (const char* s : {"a", "b", "c"}) w.add_symbol(s);
    ChunkMeta chunk{1000, 2000, 8};
    w.add_series({{"a", "b"}}, std::span(&chunk, 1));
    w.add_series({{"a", "c"}}, std::span(&chunk, 1));
    if (finish_first) {
      w.finish_writing();
      auto size = std::filesystem::file_size(dir.file(name));
      w.close();
      EXPECT_EQ(std::filesystem::file_size(dir.file(name)), size);
    } else {
      w.close();
    }
  };
  write("finished", true);
  write("closed", false);
  EXPECT_EQ(read_bytes(dir.file("finished")), read_bytes(dir.file("closed")));
  IndexReader r(dir.file("finished"));
  EXPECT_EQ(r.label_values("a"), (std::vector<std::string_view>{"b", "c"}));
}

TEST(IndexWriterTest, ReportsOsErrorsWithPath) {
  try {
    IndexWriter w("/nonexistent-dir/index");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/nonexistent-dir/index: cannot create: No such file or directory");
  }
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  try {
    IndexWriter w("/dev/full");
    w.add_symbol("a");
    w.close();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/dev/full: write failed: No space left on device");
  }
}

// Rewrites the index Prometheus 2.42 made (symbols, series and chunk metas
// as read) and expects the very bytes Prometheus 3.7+ lays out for it
// (index_prom3: the 2.42 file moved into that layout by
// testdata/prom3/to_prom3_index.py, written from index.go, not from us).
TEST(IndexWriterTest, ByteIdenticalToPrometheus) {
  const fs::path original = fixture_dir() / "block" / "index";
  const fs::path want = fixture_dir() / "index_prom3";
  if (!fs::exists(original)) GTEST_SKIP() << original << " missing";
  TempDir dir;
  const std::string path = dir.file("index");
  IndexReader r(original.string());
  {
    IndexWriter w(path);
    for (uint32_t i = 0; i < r.symbol_count(); ++i) w.add_symbol(r.symbol(i));
    Labels ls;
    std::vector<ChunkMeta> cs;
    for (uint32_t ref : r.all_postings()) {
      r.series(ref, ls, cs);
      EXPECT_EQ(w.add_series(ls, cs), ref);
    }
    w.close();
  }
  EXPECT_TRUE(read_bytes(path) == read_bytes(want.string()));
}

}  // namespace
}  // namespace promblock::index
