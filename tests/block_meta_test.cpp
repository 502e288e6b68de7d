#include <gtest/gtest.h>

#include "tools/openmetrics.h"
#include "tsdb/base/error.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/meta.h"
#include "tsdb/model/labels.h"

namespace promblock {
namespace {

TEST(Ulid, NewUlidIsValidAndCarriesTime) {
  std::string u = new_ulid(1700000000123);
  EXPECT_TRUE(is_ulid(u)) << u;
  EXPECT_EQ(ulid_time_ms(u), 1700000000123);
  EXPECT_NE(new_ulid(1700000000123), u);  // randomness
  // The ULID spec's example: ulid(1469918176385) starts "01ARYZ6S41".
  EXPECT_EQ(ulid_time_ms("01ARYZ6S41TSV4RRFFQ69G5FAV"), 1469918176385);
}

TEST(Ulid, RejectsNonUlids) {
  EXPECT_FALSE(is_ulid("wal"));
  EXPECT_FALSE(is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp-for-creation"));
  EXPECT_FALSE(is_ulid("81ARZ3NDEKTSV4RRFFQ69G5FAV"));  // overflows 128 bits
  EXPECT_FALSE(is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is not Crockford
  EXPECT_FALSE(is_ulid("01arz3ndektsv4rrffq69g5fav"));
}

const char* kMeta = R"({
	"ulid": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
	"minTime": 1700000000000,
	"maxTime": 1700007200000,
	"stats": {"numSamples": 480, "numSeries": 2, "numChunks": 4},
	"compaction": {"level": 2, "sources": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"],
	               "parents": [{"ulid": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "minTime": 1, "maxTime": 2}]},
	"version": 1,
	"thanos": {"labels": {"replica": "a", "dc": "x"}, "downsample": {"resolution": 0},
	           "source": "sidecar", "futureField": [1, 2]}
})";

TEST(Meta, ParsesPrometheusAndThanosFields) {
  BlockMeta m = parse_meta(kMeta, "meta.json");
  EXPECT_EQ(m.ulid, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  EXPECT_EQ(m.min_time, 1700000000000);
  EXPECT_EQ(m.max_time, 1700007200000);
  EXPECT_EQ(m.stats.num_samples, 480u);
  EXPECT_EQ(m.stats.num_series, 2u);
  EXPECT_EQ(m.stats.num_chunks, 4u);
  EXPECT_EQ(m.level, 2);
  ASSERT_EQ(m.parents.size(), 1u);
  EXPECT_EQ(m.parents[0].max_time, 2);
  auto ext = m.external_labels();
  EXPECT_EQ(ext.size(), 2u);
  EXPECT_EQ(ext["replica"], "a");
}

TEST(Meta, RoundTripKeepsThanosSectionVerbatim) {
  BlockMeta m = parse_meta(kMeta, "meta.json");
  std::string out = meta_to_json(m);
  BlockMeta again = parse_meta(out, "again");
  EXPECT_EQ(again.thanos, m.thanos);
  EXPECT_NE(out.find("\"futureField\""), std::string::npos);
  EXPECT_NE(out.find("\n\t\"ulid\": "), std::string::npos) << "tab-indented like Prometheus";
  EXPECT_EQ(out.find("numTombstones"), std::string::npos) << "zero stats are omitted";
}

TEST(Meta, RejectsBadInputNamingTheFile) {
  for (const char* bad :
       {"", "{", "[]", R"({"ulid":"x","minTime":1,"maxTime":2,"version":1})",
        R"({"ulid":"01ARZ3NDEKTSV4RRFFQ69G5FAV","minTime":1,"version":1})",
        R"({"ulid":"01ARZ3NDEKTSV4RRFFQ69G5FAV","minTime":1,"maxTime":2,"version":2})",
        R"({"ulid":"01ARZ3NDEKTSV4RRFFQ69G5FAV","minTime":"1","maxTime":2,"version":1})"}) {
    try {
      parse_meta(bad, "blk/meta.json");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("blk/meta.json: ", 0), 0u) << e.what();
    }
  }
}

// What Prometheus 3.14 writes (tsdb/block.go BlockStats, BlockMetaCompaction)
// round-trips byte for byte, fields this version does not know included.
TEST(Meta, Prometheus3FieldsRoundTrip) {
  const std::string text = R"({
	"ulid": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
	"minTime": 0,
	"maxTime": 7200000,
	"stats": {
		"numSamples": 30,
		"numFloatSamples": 20,
		"numHistogramSamples": 10,
		"numSeries": 3,
		"numChunks": 3,
		"numFutureThing": 7
	},
	"compaction": {
		"level": 2,
		"sources": [
			"01ARZ3NDEKTSV4RRFFQ69G5FAV"
		],
		"hints": [
			"from-out-of-order",
			"from-stale-series"
		],
		"futureField": true
	},
	"version": 1
})";
  BlockMeta m = parse_meta(text, "meta.json");
  EXPECT_EQ(m.stats.num_float_samples, 20u);
  EXPECT_EQ(m.stats.num_histogram_samples, 10u);
  EXPECT_TRUE(m.has_hint(kHintFromStaleSeries));
  EXPECT_EQ(compaction_class(m), 1);
  EXPECT_EQ(meta_to_json(m), text);
}

// CompactBlockMetas in Prometheus 3.14's compact.go: partial-view hints
// stay when any input has them, from-out-of-order only when all have it.
TEST(Meta, MergedHintsFollowPrometheus) {
  auto with = [](std::vector<std::string> hints) {
    BlockMeta m;
    m.hints = std::move(hints);
    return m;
  };
  BlockMeta plain = with({}), ooo = with({"from-out-of-order"}),
            stale = with({"from-stale-series"}), selected = with({"from-selected-series"}),
            ooo_stale = with({"from-out-of-order", "from-stale-series"});
  using V = std::vector<std::string>;
  EXPECT_EQ(merged_hints({&plain, &plain}), V{});
  EXPECT_EQ(merged_hints({&ooo, &ooo}), V{"from-out-of-order"});
  EXPECT_EQ(merged_hints({&ooo, &plain}), V{});
  EXPECT_EQ(merged_hints({&stale, &stale}), V{"from-stale-series"});
  EXPECT_EQ(merged_hints({&ooo_stale, &ooo_stale}), (V{"from-out-of-order", "from-stale-series"}));
  EXPECT_EQ(merged_hints({&ooo_stale, &stale}), V{"from-stale-series"});
  EXPECT_EQ(compaction_class(plain), 0);
  EXPECT_EQ(compaction_class(ooo), 0);  // out-of-order blocks compact with in-order ones
  EXPECT_EQ(compaction_class(stale), 1);
  EXPECT_EQ(compaction_class(selected), 2);
}

TEST(Labels, CompareAndString) {
  Labels a{{"__name__", "up"}, {"job", "a"}};
  Labels b{{"__name__", "up"}, {"job", "b"}};
  Labels c{{"__name__", "up"}};
  EXPECT_LT(compare_labels(a, b), 0);
  EXPECT_GT(compare_labels(a, c), 0);
  EXPECT_EQ(compare_labels(a, a), 0);
  EXPECT_EQ(labels_to_string(a), "{__name__=\"up\", job=\"a\"}");
  EXPECT_EQ(label_value(a, "job"), "a");
  EXPECT_EQ(label_value(a, "nope"), "");
}

TEST(Labels, NonLegacyNamesAreQuotedAsPrometheus3Does) {
  EXPECT_TRUE(is_legacy_label_name("_a1"));
  EXPECT_TRUE(is_legacy_label_name("A_b"));
  EXPECT_FALSE(is_legacy_label_name(""));
  EXPECT_FALSE(is_legacy_label_name("1a"));
  EXPECT_FALSE(is_legacy_label_name("a:b"));  // ':' only in metric names
  EXPECT_FALSE(is_legacy_label_name("a.b"));
  EXPECT_FALSE(is_legacy_label_name("\xc3\xa9"));
  EXPECT_TRUE(is_legacy_metric_name("a:b_1"));
  EXPECT_TRUE(is_legacy_metric_name(":a"));
  EXPECT_FALSE(is_legacy_metric_name("my.metric"));
  EXPECT_FALSE(is_legacy_metric_name("9"));

  Labels ls{{"__name__", "my.metric"}, {"a b", "1"},        {"a.b", "c"}, {"job", "x"},
            {"k:v", "q\"\n"},          {"\xc3\xa9", "\xff"}};
  EXPECT_EQ(labels_to_string(ls),
            "{__name__=\"my.metric\", \"a b\"=\"1\", \"a.b\"=\"c\", job=\"x\", "
            "\"k:v\"=\"q\\\"\\n\", \"\xc3\xa9\"=\"\\xff\"}");
  EXPECT_EQ(labels_to_string(Labels{{"a\"\\", "v"}}), "{\"a\\\"\\\\\"=\"v\"}");
}

TEST(Labels, JsonAsGoMarshalsLabels) {
  Labels ls{{"__name__", "my.metric"}, {"a.b", "<&>"}, {"job", "x\xff"}};
  EXPECT_EQ(labels_to_json(ls),
            "{\"__name__\":\"my.metric\",\"a.b\":\"\\u003c\\u0026\\u003e\",\"job\":\"x\\ufffd\"}");
  EXPECT_EQ(labels_to_json(Labels{}), "{}");
  // Unsorted input is sorted by key bytes, as Go sorts map keys.
  EXPECT_EQ(labels_to_json(Labels{{"b", "1"}, {"A", "2"}, {"\xc3\xa9", "3"}, {"_", "4"}}),
            "{\"A\":\"2\",\"_\":\"4\",\"b\":\"1\",\"\xc3\xa9\":\"3\"}");
}

TEST(OpenMetrics, TimestampsParseBackExactly) {
  for (int64_t ms :
       {int64_t(0), int64_t(1), int64_t(-1), int64_t(999), int64_t(-500), int64_t(1700000000123),
        int64_t(1700000000000), int64_t(-1700000000001), int64_t(1234567890999)}) {
    std::string s = openmetrics_timestamp(ms);
    EXPECT_EQ(static_cast<int64_t>(std::strtod(s.c_str(), nullptr) * 1000), ms) << s;
  }
  EXPECT_EQ(openmetrics_timestamp(1700000000000), "1700000000");
  EXPECT_EQ(openmetrics_timestamp(1500), "1.5");
}

TEST(OpenMetrics, SeriesEscapesValues) {
  Labels l{{"__name__", "m"}, {"a", "x\"y\\z\nw"}, {"b", ""}};
  EXPECT_EQ(openmetrics_series(l), "m{a=\"x\\\"y\\\\z\\nw\",b=\"\"}");
  EXPECT_EQ(openmetrics_series(Labels{{"__name__", "m"}}), "m");
  // UTF-8 names as Prometheus 3's expfmt writes them (':' is legacy there).
  EXPECT_EQ(openmetrics_series(Labels{{"__name__", "my.metric"}}), "{\"my.metric\"}");
  EXPECT_EQ(openmetrics_series(Labels{{"__name__", "my.metric"}, {"a.b", "c"}, {"k:v", "d"}}),
            "{\"my.metric\",\"a.b\"=\"c\",k:v=\"d\"}");
  EXPECT_EQ(openmetrics_series(Labels{{"__name__", "up"}, {"q\"\\", "1"}}),
            "up{\"q\\\"\\\\\"=\"1\"}");
}

}  // namespace
}  // namespace promblock
