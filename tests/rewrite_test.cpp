#include "tsdb/rewrite/rewrite.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/tombstones/tombstones.h"

namespace promblock::rewrite {
namespace {

using testing::Samples;
using testing::TempDir;
using testing::TestSeries;
using testing::write_block;

namespace fs = std::filesystem;

// Every series of a block with its samples, by Labels.String().
std::map<std::string, Samples> read_all(const std::string& dir) {
  BlockReader b(dir);
  std::map<std::string, Samples> out;
  Labels labels;
  std::vector<index::ChunkMeta> chunks;
  for (uint32_t ref : b.index().all_postings()) {
    b.index().series(ref, labels, chunks);
    auto& s = out[labels_to_string(labels)];
    for (const auto& c : chunks) {
      chunkenc::XorIterator it(b.chunks().chunk(c.ref).data);
      while (it.next()) s.push_back({it.t(), it.v()});
    }
  }
  return out;
}

// The raw bytes of every chunk of the series, in order.
std::vector<std::vector<uint8_t>> chunk_bytes(const std::string& dir, const std::string& series) {
  BlockReader b(dir);
  Labels labels;
  std::vector<index::ChunkMeta> chunks;
  for (uint32_t ref : b.index().all_postings()) {
    b.index().series(ref, labels, chunks);
    if (labels_to_string(labels) != series) continue;
    std::vector<std::vector<uint8_t>> out;
    for (const auto& c : chunks) {
      auto d = b.chunks().chunk(c.ref).data;
      out.emplace_back(d.begin(), d.end());
    }
    return out;
  }
  return {};
}

std::map<std::string, std::string> file_contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    out[fs::relative(e.path(), dir).string()] = ss.str();
  }
  return out;
}

std::vector<std::string> block_dirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  return out;
}

Deletion del(const std::string& text) { return {text, parse_selector(text)}; }

TEST(DropLabels, RemovesNamedLabelsOnly) {
  Labels l{{"__name__", "up"}, {"instance", "a"}, {"job", "x"}};
  EXPECT_EQ(drop_labels(l, {"instance", "nope"}), (Labels{{"__name__", "up"}, {"job", "x"}}));
  EXPECT_EQ(drop_labels(l, {}), l);
  EXPECT_EQ(drop_labels(l, {"job", "__name__", "instance"}), Labels{});
}

TEST(ThanosRecord, AsThanosMetadataRewrite) {
  BlockMeta in;
  in.ulid = "01M89C6ZA9YQXA03EZ5SXF6M3S";
  in.sources = {"01M89C6ZB5W0P59SD6DTGAGMN1", "01M89C6ZBTJ9JFTZS68GWRD1E1"};
  RewriteOptions opts;
  opts.deletions = {del(R"({job="x"})"), del(R"(up{a=~"b.*"})")};
  opts.drop_labels = {"instance"};
  auto r = thanos_rewrite_record(in, opts);
  EXPECT_EQ(
      r.dump(),
      R"({"sources":["01M89C6ZB5W0P59SD6DTGAGMN1","01M89C6ZBTJ9JFTZS68GWRD1E1"],)"
      R"("deletions_applied":[{"matchers":["job=\"x\""]},{"matchers":["__name__=\"up\"","a=~\"b.*\""]}],)"
      R"("relabels_applied":[{"separator":";","regex":"instance","replacement":"$1","action":"labeldrop"}]})");
  // Empty parts are left out, as Thanos's omitempty does.
  RewriteOptions none;
  EXPECT_EQ(thanos_rewrite_record(in, none).dump(),
            R"({"sources":["01M89C6ZB5W0P59SD6DTGAGMN1","01M89C6ZBTJ9JFTZS68GWRD1E1"]})");
}

TEST(OutputMeta, KeepsLineageAndAppendsRewrite) {
  BlockMeta in;
  in.ulid = "01M89C6ZA9YQXA03EZ5SXF6M3S";
  in.min_time = 100;
  in.max_time = 200;
  in.level = 3;
  in.sources = {"01M89C6ZB5W0P59SD6DTGAGMN1"};
  in.stats.num_series = 7;
  RewriteOptions opts;
  opts.deletions = {del(R"({job="x"})")};
  auto m = output_meta(in, opts);
  EXPECT_TRUE(m.ulid.empty());
  EXPECT_EQ(m.level, 3);
  EXPECT_EQ(m.sources, in.sources);
  ASSERT_EQ(m.parents.size(), 1u);
  EXPECT_EQ(m.parents[0].ulid, in.ulid);
  EXPECT_EQ(m.parents[0].min_time, 100);
  EXPECT_EQ(m.parents[0].max_time, 200);
  EXPECT_EQ(m.min_time, 100);
  EXPECT_EQ(m.max_time, 200);
  EXPECT_EQ(m.stats.num_series, 0u);
  EXPECT_TRUE(m.thanos.is_null()) << "no Thanos section is made up";

  in.thanos = {{"labels", {{"cluster", "eu"}}},
               {"downsample", {{"resolution", 0}}},
               {"source", "sidecar"},
               {"files", {{{"rel_path", "index"}, {"size_bytes", 5}}}},
               {"rewrites", {{{"sources", {"01M89C6ZBTJ9JFTZS68GWRD1E1"}}}}}};
  m = output_meta(in, opts);
  EXPECT_EQ(m.thanos["labels"], in.thanos["labels"]);
  EXPECT_EQ(m.thanos["source"], "promblock");
  EXPECT_FALSE(m.thanos.contains("files"));
  ASSERT_EQ(m.thanos["rewrites"].size(), 2u) << "earlier rewrites kept";
  EXPECT_EQ(m.thanos["rewrites"][1], thanos_rewrite_record(in, opts));
}

class RewriteBlock : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockMeta meta;
    meta.min_time = 0;
    meta.max_time = 1000;
    meta.level = 2;
    meta.sources = {"01M89C6ZB5W0P59SD6DTGAGMN1", "01M89C6ZBTJ9JFTZS68GWRD1E1"};
    input_ = write_block(
        in_.path(),
        {{{{"__name__", "up"}, {"instance", "a"}, {"job", "x"}}, {{{0, 1}, {100, 1}}}},
         {{{"__name__", "up"}, {"instance", "a"}, {"job", "y"}}, {{{0, 1}, {10, 1}, {20, 1}}}},
         {{{"__name__", "up"}, {"instance", "b"}, {"job", "y"}}, {{{10, 2}, {30, 2}}}},
         {{{"__name__", "other"}, {"job", "y"}}, {{{0, 5}, {500, 6}}, {{600, 7}, {999, 8}}}}},
        meta);
    out_ = out_tmp_.path() + "/out";
  }

  RewriteResult run(RewriteOptions opts) {
    opts.out_dir = out_;
    return rewrite_block(input_, opts);
  }

  TempDir in_, out_tmp_;
  std::string input_, out_;
};

TEST_F(RewriteBlock, DeleteLeavesOtherSeriesUntouched) {
  auto before = file_contents(input_);
  RewriteOptions opts;
  opts.deletions = {del(R"({job="x"})")};
  auto r = run(opts);
  ASSERT_TRUE(r.written);
  EXPECT_EQ(file_contents(input_), before) << "the input is never modified";
  EXPECT_EQ(r.series_in, 4u);
  EXPECT_EQ(r.series_deleted, 1u);
  EXPECT_EQ(r.series_out, 3u);
  EXPECT_EQ(r.samples_in, 2u + 3 + 2 + 4);
  EXPECT_EQ(r.samples_out, 3u + 2 + 4);
  EXPECT_EQ(r.chunks_copied, 4u);
  EXPECT_EQ(r.chunks_reencoded, 0u);

  auto in = read_all(input_);
  in.erase(R"({__name__="up", instance="a", job="x"})");
  EXPECT_EQ(read_all(r.path), in);
  for (const char* s :
       {R"({__name__="other", job="y"})", R"({__name__="up", instance="b", job="y"})"})
    EXPECT_EQ(chunk_bytes(r.path, s), chunk_bytes(input_, s)) << "copied verbatim: " << s;

  BlockReader out(r.path);
  EXPECT_EQ(out.meta().ulid, r.ulid);
  EXPECT_NE(out.meta().ulid, BlockReader(input_).meta().ulid);
  EXPECT_EQ(out.meta().min_time, 0);
  EXPECT_EQ(out.meta().max_time, 1000);
  EXPECT_EQ(out.meta().level, 2);
  EXPECT_EQ(out.meta().sources, BlockReader(input_).meta().sources);
  EXPECT_EQ(out.meta().stats.num_series, 3u);
  EXPECT_EQ(out.meta().stats.num_samples, 9u);
  EXPECT_EQ(out.meta().stats.num_chunks, 4u);
  // The deleted series' own symbols are gone.
  for (uint32_t i = 0; i < out.index().symbol_count(); ++i) EXPECT_NE(out.index().symbol(i), "x");
}

TEST_F(RewriteBlock, DropLabelChainMergesSeriesThatBecomeEqual) {
  RewriteOptions opts;
  opts.deletions = {del(R"({job="x"})")};
  opts.drop_labels = {"instance"};
  auto r = run(opts);
  ASSERT_TRUE(r.written);
  EXPECT_EQ(r.series_out, 2u);
  EXPECT_EQ(r.series_merged, 1u);
  auto got = read_all(r.path);
  ASSERT_EQ(got.size(), 2u);
  // Union of samples; on the shared timestamp 10 the copy whose old labels
  // sort first (instance="a") wins.
  EXPECT_EQ(got[R"({__name__="up", job="y"})"], (Samples{{0, 1}, {10, 1}, {20, 1}, {30, 2}}));
  EXPECT_EQ(got[R"({__name__="other", job="y"})"], (Samples{{0, 5}, {500, 6}, {600, 7}, {999, 8}}));
  EXPECT_EQ(chunk_bytes(r.path, R"({__name__="other", job="y"})"),
            chunk_bytes(input_, R"({__name__="other", job="y"})"));
  BlockReader out(r.path);
  for (uint32_t i = 0; i < out.index().symbol_count(); ++i)
    EXPECT_NE(out.index().symbol(i), "instance") << "dropped names leave the symbol table";
  EXPECT_EQ(out.meta().stats.num_samples, 8u);
}

TEST_F(RewriteBlock, TombstonesAreApplied) {
  uint32_t ref = *BlockReader(input_).index().postings("__name__", "other").begin();
  Tombstones ts;
  add_interval(ts, ref, {400, 650});
  write_tombstones(input_ + "/tombstones", ts);
  auto r = run({});
  ASSERT_TRUE(r.written);
  auto got = read_all(r.path);
  EXPECT_EQ(got[R"({__name__="other", job="y"})"], (Samples{{0, 5}, {999, 8}}));
  EXPECT_EQ(got.size(), 4u);
  BlockReader out(r.path);
  EXPECT_TRUE(out.tombstones().empty());
  EXPECT_EQ(out.meta().stats.num_samples, 2u + 3 + 2 + 2);
  EXPECT_EQ(r.samples_out, out.meta().stats.num_samples);
}

TEST_F(RewriteBlock, DeletingEverythingWritesNoBlock) {
  RewriteOptions opts;
  opts.deletions = {del(R"({job="x"})"), del(R"({job="y"})")};
  auto r = run(opts);
  EXPECT_FALSE(r.written);
  EXPECT_EQ(r.series_deleted, 4u);
  EXPECT_EQ(r.series_out, 0u);
  EXPECT_TRUE(block_dirs(out_).empty()) << "not even a temporary directory is left";
}

TEST_F(RewriteBlock, SeriesLeftWithoutLabelsIsAnError) {
  RewriteOptions opts;
  opts.drop_labels = {"__name__", "job", "instance"};
  try {
    run(opts);
    FAIL() << "no error";
  } catch (const NoLabelsLeft& e) {
    EXPECT_EQ(e.file(), input_ + "/index");
    EXPECT_FALSE(e.series().empty()) << "names the series as it was";
    EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << "no flag names";
  }
  opts.drop_labels = {""};
  EXPECT_THROW(run(opts), UsageError);
}

}  // namespace
}  // namespace promblock::rewrite
