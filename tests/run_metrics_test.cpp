// The --metrics-file format (tools/run_metrics.h): what promtool and the
// textfile collector read, and what the next run reads back.
#include "tools/run_metrics.h"

#include <gtest/gtest.h>

#include <limits>

namespace promblock::tools {
namespace {

TEST(RunMetrics, RendersHelpTypeAndCommonLabelsFirst) {
  RunMetrics m;
  m.set("promblock_run_exit_code", "Exit code", 1);
  std::string got = m.render({{"command", "merge"}, {"shard", "all"}});
  EXPECT_EQ(got,
            "# HELP promblock_run_exit_code Exit code\n"
            "# TYPE promblock_run_exit_code gauge\n"
            "promblock_run_exit_code{command=\"merge\",shard=\"all\"} 1\n");
}

TEST(RunMetrics, FamiliesByNameSamplesByLabels) {
  RunMetrics m;
  m.set("promblock_z", "z", 1);
  m.set("promblock_a", "a", 2, {{"state", "planned"}});
  m.set("promblock_a", "a", 3, {{"state", "done"}});
  m.set("promblock_a", "other help is ignored", 4, {{"state", "failed"}});
  std::string got = m.render({});
  EXPECT_EQ(got,
            "# HELP promblock_a a\n# TYPE promblock_a gauge\n"
            "promblock_a{state=\"done\"} 3\n"
            "promblock_a{state=\"failed\"} 4\n"
            "promblock_a{state=\"planned\"} 2\n"
            "# HELP promblock_z z\n# TYPE promblock_z gauge\n"
            "promblock_z 1\n");
}

TEST(RunMetrics, AddSumsAndEraseRemoves) {
  RunMetrics m;
  m.add("promblock_verify_problems", "p", 2, {{"kind", "x"}});
  m.add("promblock_verify_problems", "p", 3, {{"kind", "x"}});
  EXPECT_NE(m.render({}).find("promblock_verify_problems{kind=\"x\"} 5\n"), std::string::npos);
  m.erase("promblock_verify_problems");
  EXPECT_FALSE(m.has("promblock_verify_problems"));
  EXPECT_EQ(m.render({}), "");
}

TEST(RunMetrics, EscapesLabelValuesAndHelp) {
  RunMetrics m;
  m.set("promblock_x", "back\\slash\nnewline \"quotes\" stay", 1, {{"kind", "say \"hi\"\n"}});
  EXPECT_EQ(m.render({}),
            "# HELP promblock_x back\\\\slash\\nnewline \"quotes\" stay\n"
            "# TYPE promblock_x gauge\n"
            "promblock_x{kind=\"say \\\"hi\\\"\\n\"} 1\n");
}

TEST(RunMetrics, Values) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(75), "75");
  EXPECT_EQ(format_metric_value(1764761234.567), "1764761234.567");
  EXPECT_EQ(format_metric_value(12345678901234.0), "12345678901234");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

// A failed run carries the last success over from the file it replaces:
// the sample of its own command and shard, whatever the label order.
TEST(RunMetrics, FindsLastSuccessOfTheSameCommandAndShard) {
  RunMetrics before;
  before.set("promblock_last_success_timestamp_seconds", "t", 1700000000.25);
  before.set("promblock_last_success_timestamp_seconds_other", "t", 5);
  std::string text = before.render({{"command", "compact"}, {"shard", "0-of-2"}});
  text += "promblock_last_success_timestamp_seconds{shard=\"1-of-2\",command=\"compact\"} 42\n";
  auto got = find_metric_sample(text, "promblock_last_success_timestamp_seconds",
                                {{"shard", "0-of-2"}, {"command", "compact"}});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 1700000000.25);
  got = find_metric_sample(text, "promblock_last_success_timestamp_seconds",
                           {{"command", "compact"}, {"shard", "1-of-2"}});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 42);
  EXPECT_FALSE(find_metric_sample(text, "promblock_last_success_timestamp_seconds",
                                  {{"command", "merge"}, {"shard", "all"}}));
}

TEST(RunMetrics, CarryOverReadsEscapedLabelsAndSkipsGarbage) {
  std::string text =
      "garbage{ 1\n"
      "promblock_last_success_timestamp_seconds{command=\"a\\\"b\\\\c\"} 7\n"
      "promblock_last_success_timestamp_seconds{command=\"a\"} notanumber\n"
      "promblock_last_success_timestamp_seconds{command=\"a\"} 8\n";
  EXPECT_EQ(find_metric_sample(text, "promblock_last_success_timestamp_seconds",
                               {{"command", "a\"b\\c"}}),
            7);
  EXPECT_EQ(
      find_metric_sample(text, "promblock_last_success_timestamp_seconds", {{"command", "a"}}), 8);
  EXPECT_FALSE(find_metric_sample("", "promblock_last_success_timestamp_seconds", {}));
  // Unlabelled samples match an empty label set only.
  EXPECT_EQ(find_metric_sample("m 3\n", "m", {}), 3);
  EXPECT_FALSE(find_metric_sample("m 3\n", "m", {{"command", "a"}}));
}

}  // namespace
}  // namespace promblock::tools
