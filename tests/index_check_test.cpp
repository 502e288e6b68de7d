// Tests of the index checker (tsdb/verify/index_check): a healthy index
// passes, and each kind of damage it detects is reported against the index
// file, naming the section (or series) where it is.
#include "tsdb/verify/index_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "index/sections.h"
#include "tests/test_util.h"
#include "tests/tools/bad_block.h"
#include "tsdb/base/encoding.h"

namespace promblock::verify {
namespace {

using testing::TempDir;

struct Checked {
  std::vector<Problem> problems;
  std::vector<std::string> series;  // names passed to on_series, in order
  bool complete = false;
  uint64_t count = 0;

  // A problem in `file` whose text starts with `prefix` and holds `needle`.
  bool has(const std::string& prefix, const std::string& needle,
           const std::string& file = "index") const {
    for (const auto& p : problems)
      if (p.file == file && p.what.starts_with(prefix) && p.what.find(needle) != std::string::npos)
        return true;
    return false;
  }
  std::string text() const {
    std::string out;
    for (const auto& p : problems) out += p.file + ": [" + p.series + "] " + p.what + "\n";
    return out;
  }
};

Checked check(const std::vector<uint8_t>& bytes) {
  Checked c;
  Report report([&](const Problem& p) { c.problems.push_back(p); });
  IndexCheck ic(bytes, "index", report);
  ic.run([&](const IndexSeries& s) { c.series.push_back(s.name); });
  report.finish();
  c.complete = ic.series_complete();
  c.count = ic.series_count();
  return c;
}

std::vector<uint8_t> index_of(const std::string& parent, const std::string& fault) {
  return testing::read_bytes(testing::write_bad_block(parent, fault) + "/index");
}

index::Layout layout_of(const std::vector<uint8_t>& bytes) {
  index::Layout layout;
  EXPECT_TRUE(index::parse_layout(bytes, layout, [](index::Fault&&) {}));
  return layout;
}

// Stores a new CRC32-C after the series entry at `pos` (whose body was changed).
void reseal_series_entry(std::vector<uint8_t>& bytes, uint64_t pos) {
  enc::Decbuf d(std::span<const uint8_t>(bytes).subspan(pos));
  uint64_t len = d.uvarint();
  auto body = d.bytes(size_t(len));
  size_t crc_at = size_t(d.pos() - bytes.data());
  enc::store_be32(bytes.data() + crc_at, enc::crc32c(body));
}

TEST(IndexCheckTest, HealthyIndexPasses) {
  TempDir tmp;
  auto c = check(index_of(tmp.path(), "none"));
  EXPECT_TRUE(c.problems.empty()) << c.text();
  EXPECT_TRUE(c.complete);
  EXPECT_EQ(c.count, 4u);
  EXPECT_EQ(c.series,
            (std::vector<std::string>{R"({__name__="a", job="x"})", R"({__name__="a", job="y"})",
                                      R"({__name__="b", job="x"})", R"({__name__="b", job="y"})"}));
}

struct IndexFault {
  const char* fault;
  const char* prefix;  // where the problem is: the start of its text
  const char* needle;
  const char* series;  // the series it names, or ""
};

TEST(IndexCheckTest, EachHandMadeFaultIsReportedWhereItIs) {
  const IndexFault cases[] = {
      {"unsorted-series", "series not sorted", "comes after {__name__=\"b\", job=\"x\"}",
       R"({__name__="a", job="y"})"},
      {"duplicate-series", "series appears twice", "", R"({__name__="a", job="y"})"},
      {"unsorted-labels", "label names not sorted", "\"__name__\" after \"job\"",
       R"({job="x", __name__="a"})"},
      {"postings-nowhere", "postings of job=\"x\": series ref", "is not a series entry", ""},
      {"postings-missing", "postings of label \"job\"", "do not list exactly the series", ""},
      {"postings-unsorted", "postings of __name__=\"a\"", "not increasing", ""},
      {"offsets-unsorted", "postings offset table", "", ""},
      {"symbols-unsorted", "symbol table: symbol 1", "", ""},
  };
  for (const auto& fc : cases) {
    SCOPED_TRACE(fc.fault);
    TempDir tmp;
    auto c = check(index_of(tmp.path(), fc.fault));
    bool found = false;
    for (const auto& p : c.problems)
      found |= p.file == "index" && p.what.starts_with(fc.prefix) &&
               p.what.find(fc.needle) != std::string::npos && p.series == fc.series &&
               p.severity == Severity::kError;
    EXPECT_TRUE(found) << c.text();
  }
}

TEST(IndexCheckTest, DamagedSeriesEntryChecksumNamesTheEntry) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  const uint64_t first = layout_of(bytes).toc.series;
  bytes[first + 2] ^= 0xff;  // inside the first entry's body
  auto c = check(bytes);
  const std::string where = "series entry at offset " + std::to_string(first) + " (ref " +
                            std::to_string(first / index::kSeriesAlign) + ")";
  EXPECT_TRUE(c.has(where, "checksum mismatch (CRC32-C)")) << c.text();
  EXPECT_FALSE(c.complete);
  EXPECT_EQ(c.count, 3u);  // the walk goes on past the damaged entry
}

TEST(IndexCheckTest, SymbolRefOutOfRangeNamesTheLabel) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  const uint64_t first = layout_of(bytes).toc.series;
  // Entry: uvarint length, uvarint label count, then name ref, value ref.
  ASSERT_LT(bytes[first], 0x80);
  ASSERT_EQ(bytes[first + 1], 2);
  bytes[first + 2] = 0x7f;  // name ref 127: the table has fewer symbols
  reseal_series_entry(bytes, first);
  auto c = check(bytes);
  EXPECT_TRUE(c.has("series entry at offset " + std::to_string(first),
                    "label 0: symbol ref 127 out of range"))
      << c.text();
  // Without its labels the series cannot be compared with the postings.
  for (const auto& p : c.problems) EXPECT_FALSE(p.what.find("do not list") != std::string::npos);
}

TEST(IndexCheckTest, NonZeroPaddingIsReported) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  const uint64_t first = layout_of(bytes).toc.series;
  enc::Decbuf d(std::span<const uint8_t>(bytes).subspan(first));
  uint64_t len = d.uvarint();
  d.skip(size_t(len) + 4);
  const uint64_t end = uint64_t(d.pos() - bytes.data());
  ASSERT_NE(end % index::kSeriesAlign, 0u) << "the first entry needs padding after it";
  bytes[end] = 1;
  auto c = check(bytes);
  EXPECT_TRUE(c.has("series section: non-zero padding byte at offset " + std::to_string(end), ""))
      << c.text();
}

TEST(IndexCheckTest, DamagedSymbolTableIsNamed) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  bytes[layout_of(bytes).toc.symbols + 9] ^= 0xff;  // inside the first symbol
  auto c = check(bytes);
  EXPECT_TRUE(c.has("symbol table", "checksum mismatch")) << c.text();
}

TEST(IndexCheckTest, DamagedTableOfContentsStopsTheCheck) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  bytes[bytes.size() - 10] ^= 0xff;
  auto c = check(bytes);
  EXPECT_TRUE(c.has("table of contents: checksum mismatch", "")) << c.text();
  EXPECT_EQ(c.problems.size(), 1u) << c.text();
  EXPECT_TRUE(c.series.empty());
}

TEST(IndexCheckTest, WrongMagicIsReported) {
  TempDir tmp;
  auto bytes = index_of(tmp.path(), "none");
  bytes[0] ^= 0xff;
  auto c = check(bytes);
  EXPECT_TRUE(c.has("invalid magic number", "")) << c.text();
  EXPECT_FALSE(c.complete);
}

}  // namespace
}  // namespace promblock::verify
