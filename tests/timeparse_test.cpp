#include "tsdb/model/timeparse.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace promblock {
namespace {

constexpr int64_t kNov14 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

std::string time_error(std::string_view text) {
  try {
    return "parsed as " + std::to_string(parse_time_ms(text));
  } catch (const UsageError& e) {
    return e.what();
  }
}

std::string duration_error(std::string_view text) {
  try {
    return "parsed as " + std::to_string(parse_duration_ms(text));
  } catch (const UsageError& e) {
    return e.what();
  }
}

TEST(ParseTime, Rfc3339) {
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20Z"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-14t22:13:20z"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.123Z"), kNov14 + 123);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.5Z"), kNov14 + 500);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.000Z"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-14T23:13:20+01:00"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-14T17:43:20-04:30"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-15T08:13:20+10:00"), kNov14);  // crosses the date
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20+00:00"), kNov14);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20-00:00"), kNov14);
}

TEST(ParseTime, Rfc3339FractionIsTruncatedToMilliseconds) {
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.123456789Z"), kNov14 + 123);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.9999Z"), kNov14 + 999);
  EXPECT_EQ(parse_time_ms("1969-12-31T23:59:59.9999Z"), -1);  // truncated toward the past
}

TEST(ParseTime, Rfc3339Calendar) {
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time_ms("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(parse_time_ms("2000-02-29T00:00:00Z"), 951'782'400'000);
  EXPECT_EQ(parse_time_ms("2024-02-29T12:00:00Z"), 1'709'208'000'000);
  EXPECT_EQ(parse_time_ms("2024-03-01T00:00:00Z"), 1'709'251'200'000);
  EXPECT_EQ(parse_time_ms("0000-01-01T00:00:00Z"), -62'167'219'200'000);
  EXPECT_EQ(parse_time_ms("9999-12-31T23:59:59.999Z"), 253'402'300'799'999);
  EXPECT_EQ(parse_time_ms("1900-03-01T00:00:00Z"), -2'203'891'200'000);
}

TEST(ParseTime, Rfc3339Errors) {
  EXPECT_NE(time_error("1900-02-29T00:00:00Z").find("day out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-02-29T00:00:00Z").find("day out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-04-31T00:00:00Z").find("day out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-11-00T00:00:00Z").find("day out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-13-01T00:00:00Z").find("month out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-00-01T00:00:00Z").find("month out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-11-14T24:00:00Z").find("hour out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-11-14T22:60:00Z").find("minute out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-11-14T22:13:60Z").find("second out of range"), std::string::npos);
  EXPECT_NE(time_error("2023-11-14T22:13:20+24:00").find("zone offset out of range"),
            std::string::npos);
  EXPECT_EQ(time_error("2023-11-14T22:13:20"),
            R"(invalid time "2023-11-14T22:13:20": expected 'Z' or a zone offset like +01:00 )"
            "at position 19");
  const char* kMalformed[] = {"2023-11-14",
                              "2023-11-14 22:13:20Z",
                              "2023-1-14T22:13:20Z",
                              "2023-11-14T22:13Z",
                              "2023-11-14T22:13:20.Z",
                              "2023-11-14T22:13:20+0100",
                              "2023-11-14T22:13:20Zx",
                              "2023-11-14T22:13:20+01:00x",
                              "2023-11-14T22:13:2xZ",
                              "+2023-11-14T22:13:20Z",
                              "20231114T221320Z"};
  for (const char* text : kMalformed)
    EXPECT_EQ(time_error(text).rfind("invalid time ", 0), 0u) << text << ": " << time_error(text);
}

TEST(ParseTime, UnixSeconds) {
  EXPECT_EQ(parse_time_ms("1700000000"), kNov14);
  EXPECT_EQ(parse_time_ms("+1700000000"), kNov14);
  EXPECT_EQ(parse_time_ms("0"), 0);
  EXPECT_EQ(parse_time_ms("-0"), 0);
  EXPECT_EQ(parse_time_ms("1700000000.123"), kNov14 + 123);
  EXPECT_EQ(parse_time_ms("1700000000.1"), kNov14 + 100);
  EXPECT_EQ(parse_time_ms("1700000000.1234"), kNov14 + 123);
  EXPECT_EQ(parse_time_ms("1700000000.1235"), kNov14 + 124);  // rounded, like Prometheus's API
  EXPECT_EQ(parse_time_ms("1700000000.9996"), kNov14 + 1000);
  EXPECT_EQ(parse_time_ms("-1.5"), -1500);
  EXPECT_EQ(parse_time_ms("-0.0005"), -1);  // half away from zero
  EXPECT_EQ(parse_time_ms("-0.0004"), 0);
  EXPECT_EQ(parse_time_ms("9223372036854775"), 9'223'372'036'854'775'000);
  EXPECT_EQ(parse_time_ms("9223372036854775.807"), std::numeric_limits<int64_t>::max());
}

TEST(ParseTime, UnixSecondsErrors) {
  EXPECT_NE(time_error("9223372036854775.808").find("out of range"), std::string::npos);
  EXPECT_NE(time_error("9223372036854776").find("out of range"), std::string::npos);
  EXPECT_NE(time_error("99999999999999999999").find("out of range"), std::string::npos);
  const char* kMalformed[] = {"",   "1.", ".5",   "1.2.3", "1e9", "--1", "1700000000s",
                              " 1", "1 ", "0x10", "abc",   "-",   "1,5", "١"};
  for (const char* text : kMalformed)
    EXPECT_EQ(time_error(text).rfind("invalid time ", 0), 0u) << text << ": " << time_error(text);
}

TEST(ParseTime, Milliseconds) {
  EXPECT_EQ(parse_time_ms("1700000000123ms"), kNov14 + 123);
  EXPECT_EQ(parse_time_ms("0ms"), 0);
  EXPECT_EQ(parse_time_ms("-5ms"), -5);
  EXPECT_EQ(parse_time_ms("+5ms"), 5);
  EXPECT_EQ(parse_time_ms("9223372036854775807ms"), std::numeric_limits<int64_t>::max());
  EXPECT_NE(time_error("9223372036854775808ms").find("out of range"), std::string::npos);
  for (const char* text : {"ms", "1.5ms", "-ms", "1 ms", "1e3ms", "1sms"})
    EXPECT_EQ(time_error(text).rfind("invalid time ", 0), 0u) << text << ": " << time_error(text);
}

TEST(ParseTime, ErrorsAreUsageErrorsNamingTheArgument) {
  EXPECT_THROW(parse_time_ms("yesterday"), UsageError);
  EXPECT_THROW(parse_time_ms("yesterday"), Error);
  EXPECT_EQ(time_error("yesterday"),
            R"(invalid time "yesterday": expected RFC 3339 (2023-11-14T22:13:20Z), Unix seconds )"
            R"(or milliseconds with an "ms" suffix)");
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parse_duration_ms("0"), 0);
  EXPECT_EQ(parse_duration_ms("0s"), 0);
  EXPECT_EQ(parse_duration_ms("1ms"), 1);
  EXPECT_EQ(parse_duration_ms("1s"), 1000);
  EXPECT_EQ(parse_duration_ms("1m"), 60'000);
  EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
  EXPECT_EQ(parse_duration_ms("14d"), 1'209'600'000);
  EXPECT_EQ(parse_duration_ms("1w"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("1y"), 31'536'000'000);
  EXPECT_EQ(parse_duration_ms("90m"), 5'400'000);
  EXPECT_EQ(parse_duration_ms("1000ms"), 1000);
  EXPECT_EQ(parse_duration_ms("007m"), 420'000);
}

TEST(ParseDuration, Combinations) {
  EXPECT_EQ(parse_duration_ms("1h30m"), 5'400'000);
  EXPECT_EQ(parse_duration_ms("1m30s"), 90'000);
  EXPECT_EQ(parse_duration_ms("2w3d"), 17 * 86'400'000LL);
  EXPECT_EQ(parse_duration_ms("1s500ms"), 1500);
  EXPECT_EQ(parse_duration_ms("1m1ms"), 60'001);
  EXPECT_EQ(parse_duration_ms("1y2w3d4h5m6s7ms"), 31'536'000'000 + 2 * 604'800'000LL +
                                                      3 * 86'400'000LL + 4 * 3'600'000 +
                                                      5 * 60'000 + 6 * 1000 + 7);
}

TEST(ParseDuration, Errors) {
  EXPECT_EQ(duration_error("-1h"), R"(invalid duration "-1h": durations cannot be negative)");
  EXPECT_EQ(duration_error("30m1h"),
            R"(invalid duration "30m1h": units must appear once each, largest first (e.g. 1d12h))");
  EXPECT_EQ(duration_error("1x"),
            R"(invalid duration "1x": expected a unit (y, w, d, h, m, s, ms) at position 1)");
  EXPECT_EQ(duration_error("1"),
            R"(invalid duration "1": expected a unit (y, w, d, h, m, s, ms) at position 1)");
  EXPECT_EQ(duration_error("h"), R"(invalid duration "h": expected a number at position 0)");
  EXPECT_NE(duration_error("9999999999y").find("out of range"), std::string::npos);
  EXPECT_NE(duration_error("99999999999999999999s").find("out of range"), std::string::npos);
  EXPECT_EQ(parse_duration_ms("106751991167d7h12m55s807ms"), std::numeric_limits<int64_t>::max());
  EXPECT_NE(duration_error("106751991167d7h12m55s808ms").find("out of range"), std::string::npos);
  for (const char* text : {"", "1h1h", "1d1y", "1ms1s", "1.5h", "1h 30m", " 1h", "1H", "1msm",
                           "+1h", "1hm", "ms", "0x", "00"})
    EXPECT_EQ(duration_error(text).rfind("invalid duration ", 0), 0u)
        << text << ": " << duration_error(text);
  EXPECT_THROW(parse_duration_ms("1x"), UsageError);
}

TEST(FormatRfc3339, DropsTrailingZerosOfTheFraction) {
  EXPECT_EQ(format_rfc3339_ms(kNov14), "2023-11-14T22:13:20Z");
  EXPECT_EQ(format_rfc3339_ms(kNov14 + 123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_rfc3339_ms(kNov14 + 120), "2023-11-14T22:13:20.12Z");
  EXPECT_EQ(format_rfc3339_ms(kNov14 + 100), "2023-11-14T22:13:20.1Z");
  EXPECT_EQ(format_rfc3339_ms(kNov14 + 1), "2023-11-14T22:13:20.001Z");
  EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
}

TEST(FormatRfc3339, BeforeEpochAndFarAway) {
  EXPECT_EQ(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_ms(-1000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339_ms(-86'400'000), "1969-12-31T00:00:00Z");
  EXPECT_EQ(format_rfc3339_ms(951'782'400'000), "2000-02-29T00:00:00Z");
  EXPECT_EQ(format_rfc3339_ms(-62'167'219'200'000), "0000-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339_ms(-62'167'219'200'001), "-0001-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_ms(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_ms(253'402'300'800'000), "10000-01-01T00:00:00Z");
  // The extremes of int64 (Prometheus's "no limit" times) must not crash.
  EXPECT_EQ(format_rfc3339_ms(std::numeric_limits<int64_t>::max()),
            "292278994-08-17T07:12:55.807Z");
  EXPECT_EQ(format_rfc3339_ms(std::numeric_limits<int64_t>::min()),
            "-292275055-05-16T16:47:04.192Z");
}

TEST(FormatRfc3339, RoundTripsThroughParse) {
  uint64_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    // Years 0000 to 9999.
    int64_t ms = -62'167'219'200'000 + static_cast<int64_t>((state >> 11) % 315'537'897'600'000ULL);
    ASSERT_EQ(parse_time_ms(format_rfc3339_ms(ms)), ms) << format_rfc3339_ms(ms);
  }
}

TEST(FormatDuration, PrometheusStyle) {
  EXPECT_EQ(format_duration_ms(0), "0s");
  EXPECT_EQ(format_duration_ms(500), "500ms");
  EXPECT_EQ(format_duration_ms(1000), "1s");
  EXPECT_EQ(format_duration_ms(90'000), "1m30s");
  EXPECT_EQ(format_duration_ms(5'400'000), "1h30m");
  EXPECT_EQ(format_duration_ms(7'200'000), "2h");
  EXPECT_EQ(format_duration_ms(86'400'000), "1d");
  EXPECT_EQ(format_duration_ms(3'661'001), "1h1m1s1ms");
  EXPECT_EQ(format_duration_ms(172'800'000 + 1), "2d1ms");
}

TEST(FormatDuration, WeeksAndYearsOnlyWhenExact) {
  EXPECT_EQ(format_duration_ms(14 * 86'400'000LL), "2w");
  EXPECT_EQ(format_duration_ms(7 * 86'400'000LL), "1w");
  EXPECT_EQ(format_duration_ms(10 * 86'400'000LL), "10d");
  EXPECT_EQ(format_duration_ms(90 * 86'400'000LL), "90d");
  EXPECT_EQ(format_duration_ms(365 * 86'400'000LL), "1y");
  EXPECT_EQ(format_duration_ms(730 * 86'400'000LL), "2y");
  EXPECT_EQ(format_duration_ms(366 * 86'400'000LL), "366d");
  EXPECT_EQ(format_duration_ms(365 * 86'400'000LL + 1), "365d1ms");
  EXPECT_EQ(format_duration_ms(14 * 86'400'000LL + 3'600'000), "14d1h");
}

TEST(FormatDuration, NegativeAndExtremes) {
  EXPECT_EQ(format_duration_ms(-7'200'000), "-2h");
  EXPECT_EQ(format_duration_ms(-1), "-1ms");
  EXPECT_EQ(format_duration_ms(std::numeric_limits<int64_t>::min()), "-106751991167d7h12m55s808ms");
  EXPECT_EQ(format_duration_ms(std::numeric_limits<int64_t>::max()), "106751991167d7h12m55s807ms");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  uint64_t state = 99;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t ms = static_cast<int64_t>(state >> (1 + (state & 63) % 40));  // spread of magnitudes
    ASSERT_EQ(parse_duration_ms(format_duration_ms(ms)), ms) << format_duration_ms(ms);
  }
}

}  // namespace
}  // namespace promblock
