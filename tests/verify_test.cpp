// Tests of promblock verify's checks (tsdb/verify/): healthy blocks pass,
// each hand-made inconsistency is found and named, the report limit and the
// overlap check.
#include "tsdb/verify/verify.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/tools/bad_block.h"
#include "tsdb/block/block_writer.h"

namespace promblock::verify {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;

struct Collected {
  std::vector<Problem> problems;
  uint64_t errors = 0;
  uint64_t warnings = 0;

  bool has(const std::string& file, const std::string& needle, Severity sev = Severity::kError,
           const std::string& series = "*") const {
    for (const auto& p : problems)
      if (p.file == file && p.severity == sev && p.what.find(needle) != std::string::npos &&
          (series == "*" || p.series == series))
        return true;
    return false;
  }
  std::string text() const {
    std::string out;
    for (const auto& p : problems)
      out += p.file + ": " + (p.severity == Severity::kWarning ? "warning: " : "") +
             (p.series.empty() ? "" : "series " + p.series + ": ") + p.what + "\n";
    return out;
  }
};

Collected run(const std::string& dir, bool deep = false) {
  Collected c;
  Report report([&](const Problem& p) { c.problems.push_back(p); });
  Options opt;
  opt.deep = deep;
  verify_block(dir, opt, report);
  report.finish();
  c.errors = report.errors();
  c.warnings = report.warnings();
  return c;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

TEST(VerifyTest, HandMadeHealthyBlockPasses) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  for (bool deep : {false, true}) {
    auto c = run(dir, deep);
    EXPECT_EQ(c.errors + c.warnings, 0u) << c.text();
  }
}

TEST(VerifyTest, BlockWriterBlockPasses) {
  TempDir tmp;
  BlockMeta meta;
  meta.min_time = 1000;
  meta.max_time = 2005;
  BlockWriter w(tmp.path(), meta);
  for (const char* s : {"__name__", "a", "b", "job", "x", "y"}) w.add_symbol(s);
  chunkenc::XorEncoder e1, e2;
  for (int i = 0; i < 5; ++i) e1.append(1000 + i, i), e2.append(2000 + i, i);
  std::vector<ChunkData> chunks = {
      {1000, 1004, uint8_t(chunkenc::Encoding::kXOR), e1.bytes(), 5, {}},
      {2000, 2004, uint8_t(chunkenc::Encoding::kXOR), e2.bytes(), 5, {}}};
  w.add_series({{"__name__", "a"}, {"job", "x"}}, chunks);
  w.add_series({{"__name__", "b"}, {"job", "y"}}, chunks);
  std::string dir = w.commit();
  auto c = run(dir, true);
  EXPECT_EQ(c.errors, 0u) << c.text();
}

TEST(VerifyTest, CommittedBlocksPass) {
  int blocks = 0;
  for (const auto& set : fs::directory_iterator(std::string(PROMBLOCK_TESTDATA) + "/blocks")) {
    if (!set.is_directory()) continue;
    for (const auto& b : fs::directory_iterator(set.path())) {
      if (!fs::exists(b.path() / "meta.json")) continue;
      auto c = run(b.path().string(), true);
      EXPECT_EQ(c.errors, 0u) << b.path() << "\n" << c.text();
      ++blocks;
    }
  }
  EXPECT_GT(blocks, 3);
}

struct FaultCase {
  const char* fault;
  const char* file;
  const char* needle;
  bool names_series;
};

TEST(VerifyTest, HandMadeFaultsAreFound) {
  const FaultCase cases[] = {
      {"unsorted-series", "index", "series not sorted", true},
      {"duplicate-series", "index", "appears twice", true},
      {"unsorted-labels", "index", "label names not sorted", true},
      {"chunks-overlap", "index", "overlaps chunk 0", true},
      {"postings-nowhere", "index", "is not a series entry", false},
      {"postings-missing", "index", "do not list exactly the series", false},
      {"postings-unsorted", "index", "series refs not increasing", false},
      {"offsets-unsorted", "index", "postings offset table", false},
      {"symbols-unsorted", "index", "symbol table: symbol 1", false},
  };
  for (const auto& fc : cases) {
    SCOPED_TRACE(fc.fault);
    TempDir tmp;
    std::string dir = testing::write_bad_block(tmp.path(), fc.fault);
    auto c = run(dir);
    EXPECT_TRUE(c.has(fc.file, fc.needle)) << c.text();
    if (fc.names_series) {
      // The problem names its series by labels (for unsorted-labels in
      // their order in the file, so __name__ need not come first).
      bool named = false;
      for (const auto& p : c.problems)
        named |= p.what.find(fc.needle) != std::string::npos && p.series.starts_with("{") &&
                 p.series.find("__name__=\"a\"") != std::string::npos;
      EXPECT_TRUE(named) << c.text();
    }
  }
}

TEST(VerifyTest, DeepFindsChunkTimesThatDifferFromTheIndex) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "chunk-times-wrong");
  EXPECT_EQ(run(dir).errors, 0u);
  auto c = run(dir, true);
  EXPECT_TRUE(
      c.has("chunks/000001", "the index says", Severity::kError, R"({__name__="a", job="x"})"))
      << c.text();
}

TEST(VerifyTest, MetaProblems) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  std::string meta = read_file(dir + "/meta.json");

  auto patched = [&](const std::string& from, const std::string& to) {
    std::string m = meta;
    auto p = m.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    m.replace(p, from.size(), to);
    write_file(dir + "/meta.json", m);
    return run(dir);
  };
  auto c = patched("\"numSamples\": 80", "\"numSamples\": 81");
  EXPECT_TRUE(c.has("meta.json", "stats.numSamples is 81, the block holds 80")) << c.text();
  c = patched("\"numSeries\": 4", "\"numSeries\": 5");
  EXPECT_TRUE(c.has("meta.json", "stats.numSeries is 5")) << c.text();
  c = patched("\"minTime\": 1700000000000", "\"minTime\": 1700000015000");
  EXPECT_TRUE(c.has("index", "outside the block's range")) << c.text();
  c = patched("\"minTime\": 1700000000000", "\"minTime\": 1800000000000");
  EXPECT_TRUE(c.has("meta.json", "is not before maxTime")) << c.text();
  c = patched("\"maxTime\": 1700000285001", "\"maxTime\": 1700000285000");
  EXPECT_TRUE(c.has("index", "ends at the block's maxTime", Severity::kWarning)) << c.text();
  EXPECT_EQ(c.errors, 0u) << c.text();
  write_file(dir + "/meta.json", "{");
  c = run(dir);
  EXPECT_TRUE(c.has("meta.json", "invalid JSON")) << c.text();
}

TEST(VerifyTest, MissingSegmentIsOneProblem) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  fs::remove(dir + "/chunks/000001");
  auto c = run(dir);
  EXPECT_EQ(c.errors, 1u) << c.text();
  EXPECT_TRUE(c.has("chunks/000001", "segment file does not exist")) << c.text();
}

TEST(VerifyTest, ChunkChecksumMismatchNamesTheSeries) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  std::string seg = read_file(dir + "/chunks/000001");
  seg[8 + 1 + 1 + 3] ^= 0x40;  // inside the data of the first chunk
  write_file(dir + "/chunks/000001", seg);
  auto c = run(dir);
  EXPECT_TRUE(
      c.has("chunks/000001", "checksum mismatch", Severity::kError, R"({__name__="a", job="x"})"))
      << c.text();
  EXPECT_EQ(c.errors, 1u) << c.text();
}

TEST(VerifyTest, IndexByteFlipsAreFoundWithoutStopping) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  std::string idx = read_file(dir + "/index");
  auto toc = idx.size() - index::kTocLen;
  auto be64 = [&](size_t at) { return enc::load_be64(reinterpret_cast<uint8_t*>(&idx[at])); };
  uint64_t symbols = be64(toc), series = be64(toc + 8), pot = be64(toc + 40);
  idx[symbols + 4 + 4 + 2] ^= 0x01;  // a symbol
  idx[series + 2] ^= 0x01;           // the first series entry
  idx[pot + 4 + 4 + 2] ^= 0x01;      // the postings offset table
  write_file(dir + "/index", idx);
  auto c = run(dir);
  EXPECT_TRUE(c.has("index", "symbol table: checksum mismatch")) << c.text();
  EXPECT_TRUE(c.has("index", "series entry at offset " + std::to_string(series))) << c.text();
  EXPECT_TRUE(c.has("index", "postings offset table: checksum mismatch")) << c.text();
}

TEST(VerifyTest, GarbageIndexIsAProblemNotACrash) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  write_file(dir + "/index", "garbage");
  auto c = run(dir);
  EXPECT_TRUE(c.has("index", "invalid magic number")) << c.text();
  write_file(dir + "/index", "\xba\xaa\xd7");
  EXPECT_TRUE(run(dir).has("index", "too small")) << c.text();
  fs::remove(dir + "/index");
  c = run(dir);
  EXPECT_TRUE(c.has("index", "cannot open")) << c.text();
}

TEST(VerifyTest, ReportLimitsProblemsOfOneKind) {
  std::vector<Problem> got;
  Report r([&](const Problem& p) { got.push_back(p); });
  for (int i = 0; i < 25; ++i) r.error("kind", "index", "", "problem " + std::to_string(i));
  r.warning("other", "meta.json", "", "w");
  r.finish();
  EXPECT_EQ(r.errors(), 25u);
  EXPECT_EQ(r.warnings(), 1u);
  ASSERT_EQ(got.size(), Report::kDefaultLimit + 2);
  EXPECT_EQ(got.back().what, "5 more like this not listed (kind)");
  EXPECT_EQ(got.back().severity, Severity::kError);
}

TEST(VerifyTest, FindOverlaps) {
  std::vector<BlockRange> b = {
      {"g", "A", 0, 100},   {"g", "B", 100, 200},  // adjacent: no overlap
      {"g", "C", 150, 160},                        // inside B
      {"h", "D", 0, 300},                          // other group
      {"g", "E", 50, 120},                         // overlaps A, B
  };
  auto o = find_overlaps(b);
  std::vector<std::pair<std::string, std::string>> names;
  for (auto [x, y] : o) names.emplace_back(b[x].ulid, b[y].ulid);
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, std::string>> want = {{"A", "E"}, {"B", "C"}, {"E", "B"}};
  EXPECT_EQ(names, want);
}

// Each problem passed on names its kind; the "N more like this" line
// stands for the N it replaces, so counts by kind (metrics) add up.
TEST(VerifyTest, ReportNamesKindAndCount) {
  std::vector<Problem> got;
  Report report([&](const Problem& p) { got.push_back(p); });
  for (int i = 0; i < 25; ++i) report.error("chunk unreadable", "chunks/000001", "", "bad");
  for (int i = 0; i < 3; ++i) report.warning("empty chunk", "index", "", "empty", 2);
  report.finish();
  std::map<std::string, uint64_t> by_kind;
  for (const auto& p : got) by_kind[p.kind] += p.count;
  EXPECT_EQ(by_kind,
            (std::map<std::string, uint64_t>{{"chunk unreadable", 25}, {"empty chunk", 3}}));
  EXPECT_EQ(got.size(), 20u + 1 + 2 + 1);  // the limits held
  EXPECT_EQ(report.total(), 28u);
}

}  // namespace
}  // namespace promblock::verify
