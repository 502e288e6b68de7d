#include "tsdb/base/go_format.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace promblock {
namespace {

std::string fixture_path(const std::string& name) {
  return std::string(PROMBLOCK_TESTDATA) + "/../tests/fixtures/go_format/" + name;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The sample lines of an OpenMetrics fixture (no "# ..." lines).
std::vector<std::string> om_samples(const std::string& name) {
  std::vector<std::string> samples;
  for (auto& line : read_lines(fixture_path(name)))
    if (!line.empty() && line[0] != '#') samples.push_back(line);
  return samples;
}

// OpenMetrics label-value escapes: \\ \" \n; anything else is literal.
std::string om_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char next = s[++i];
      if (next == 'n') {
        out += '\n';
      } else if (next == '\\' || next == '"') {
        out += next;
      } else {
        out += '\\';
        out += next;
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

double bits_to_double(uint64_t bits) { return std::bit_cast<double>(bits); }

// Every series of values.om has one value; the dump prints it with %g.
TEST(GoFormatG, MatchesPromtoolDump) {
  auto samples = om_samples("values.om");
  auto dump = read_lines(fixture_path("values.dump"));
  ASSERT_EQ(samples.size(), dump.size());
  ASSERT_GT(samples.size(), 200u);
  for (size_t i = 0; i < samples.size(); ++i) {
    // g{i="0007"} VALUE 1700000000
    const std::string& line = samples[i];
    size_t close = line.find("} ");
    std::string index = line.substr(line.find("i=\"") + 3, 4);
    std::string text = line.substr(close + 2, line.rfind(' ') - close - 2);
    double value = std::strtod(text.c_str(), nullptr);
    std::string expected =
        "{__name__=\"g\", i=\"" + index + "\"} " + go_format_g(value) + " 1700000000000";
    EXPECT_EQ(dump[i], expected) << "input " << text;
  }
}

TEST(GoQuote, MatchesPromtoolDump) {
  auto samples = om_samples("labels.om");
  auto dump = read_lines(fixture_path("labels.dump"));
  ASSERT_EQ(samples.size(), dump.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    // g{i="0007",v="RAW"} 1 1700000000
    const std::string& line = samples[i];
    size_t start = line.find(",v=\"") + 4;
    size_t end = line.rfind("\"} 1 1700000000");
    std::string value = om_unescape(std::string_view(line).substr(start, end - start));
    std::string expected = "{__name__=\"g\", i=\"" + line.substr(line.find("i=\"") + 3, 4) + "\"";
    if (!value.empty()) expected += ", v=" + go_quote(value);  // empty labels are dropped
    expected += "} 1 1700000000000";
    EXPECT_EQ(dump[i], expected);
  }
}

TEST(GoQuote, Escapes) {
  EXPECT_EQ(go_quote(""), "\"\"");
  EXPECT_EQ(go_quote("abc"), "\"abc\"");
  EXPECT_EQ(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(go_quote("\a\b\f\n\r\t\v"), "\"\\a\\b\\f\\n\\r\\t\\v\"");
  EXPECT_EQ(go_quote(std::string("\0\x1f\x7f", 3)), "\"\\x00\\x1f\\x7f\"");
  EXPECT_EQ(go_quote("'"), "\"'\"");  // single quote is not escaped in "..."
}

TEST(GoQuote, InvalidUtf8EscapesEachByte) {
  EXPECT_EQ(go_quote("\xff"), "\"\\xff\"");
  EXPECT_EQ(go_quote("a\xc3"), "\"a\\xc3\"");                           // truncated 2-byte
  EXPECT_EQ(go_quote("\xe6\x97x"), "\"\\xe6\\x97x\"");                  // truncated 3-byte
  EXPECT_EQ(go_quote("\xc0\xaf"), "\"\\xc0\\xaf\"");                    // overlong '/'
  EXPECT_EQ(go_quote("\xe0\x80\xaf"), "\"\\xe0\\x80\\xaf\"");           // overlong 3-byte
  EXPECT_EQ(go_quote("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");           // surrogate U+D800
  EXPECT_EQ(go_quote("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"");  // > U+10FFFF
  EXPECT_EQ(go_quote("\x80"), "\"\\x80\"");                             // stray continuation byte
  // A valid encoding of U+FFFD is printable and stays raw.
  EXPECT_EQ(go_quote("\xef\xbf\xbd"), "\"\xef\xbf\xbd\"");
}

TEST(GoQuote, UnicodeClasses) {
  EXPECT_EQ(go_quote("\u00e9\u65e5\U0001F600"), "\"\u00e9\u65e5\U0001F600\"");
  EXPECT_EQ(go_quote("\u0085"), "\"\\u0085\"");          // C1 control
  EXPECT_EQ(go_quote("\u00a0"), "\"\\u00a0\"");          // no-break space
  EXPECT_EQ(go_quote("\u00ad"), "\"\\u00ad\"");          // soft hyphen (format)
  EXPECT_EQ(go_quote("\u2028"), "\"\\u2028\"");          // line separator
  EXPECT_EQ(go_quote("\ue000"), "\"\\ue000\"");          // private use
  EXPECT_EQ(go_quote("\uffff"), "\"\\uffff\"");          // noncharacter
  EXPECT_EQ(go_quote("\U000E0001"), "\"\\U000e0001\"");  // tag (format)
  EXPECT_EQ(go_quote("\U0010FFFF"), "\"\\U0010ffff\"");
  EXPECT_EQ(go_quote("\u0378"), "\"\\u0378\"");   // unassigned
  EXPECT_EQ(go_quote("e\u0301"), "\"e\u0301\"");  // combining mark is printable
  EXPECT_EQ(go_quote("\u00a1"), "\"\u00a1\"");    // first printable after Latin-1 controls
}

TEST(GoDecodeRune, WidthsAndInvalidInput) {
  char32_t r = 0;
  EXPECT_EQ(go_decode_rune("", r), 0u);
  EXPECT_EQ(go_decode_rune("a", r), 1u);
  EXPECT_EQ(r, U'a');
  EXPECT_EQ(go_decode_rune("\u00e9x", r), 2u);
  EXPECT_EQ(r, U'\u00e9');
  EXPECT_EQ(go_decode_rune("\u65e5", r), 3u);
  EXPECT_EQ(r, U'\u65e5');
  EXPECT_EQ(go_decode_rune("\U0010FFFF", r), 4u);
  EXPECT_EQ(r, U'\U0010FFFF');
  EXPECT_EQ(go_decode_rune(std::string_view("\0", 1), r), 1u);
  EXPECT_EQ(r, U'\0');
  for (const char* bad : {"\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf",
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe6\x97", "\xe6\x97x", "\xff"})
    EXPECT_EQ(go_decode_rune(bad, r), 0u) << go_quote(bad);
}

TEST(GoFormatG, FixedOrExponentBoundaries) {
  EXPECT_EQ(go_format_g(0), "0");
  EXPECT_EQ(go_format_g(-0.0), "-0");
  EXPECT_EQ(go_format_g(123456), "123456");
  EXPECT_EQ(go_format_g(999999.5), "999999.5");  // 7 digits, exponent 5: fixed
  EXPECT_EQ(go_format_g(1234567), "1.234567e+06");
  EXPECT_EQ(go_format_g(1e6), "1e+06");
  EXPECT_EQ(go_format_g(0.0001), "0.0001");
  EXPECT_EQ(go_format_g(0.00012345), "0.00012345");
  EXPECT_EQ(go_format_g(0.00009999), "9.999e-05");
  EXPECT_EQ(go_format_g(1e-5), "1e-05");
  EXPECT_EQ(go_format_g(1.5e-7), "1.5e-07");
  EXPECT_EQ(go_format_g(1e100), "1e+100");
  EXPECT_EQ(go_format_g(-1e-100), "-1e-100");
  EXPECT_EQ(go_format_g(5e-324), "5e-324");
  EXPECT_EQ(go_format_g(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(go_format_g(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
}

TEST(GoFormatG, NonFinite) {
  EXPECT_EQ(go_format_g(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(go_format_g(-std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(go_format_g(bits_to_double(0x7ff0000000000002)), "NaN");  // stale marker
  EXPECT_EQ(go_format_g(INFINITY), "+Inf");
  EXPECT_EQ(go_format_g(-INFINITY), "-Inf");
}

TEST(GoFormatFloatJson, MatchesPrometheusApi) {
  auto samples = om_samples("values.om");
  auto api = read_lines(fixture_path("values.api"));
  ASSERT_EQ(samples.size(), api.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string& line = samples[i];
    size_t close = line.find("} ");
    std::string text = line.substr(close + 2, line.rfind(' ') - close - 2);
    std::string index = line.substr(line.find("i=\"") + 3, 4);
    EXPECT_EQ(api[i], index + " " + go_format_float_json(std::strtod(text.c_str(), nullptr)))
        << "input " << text;
  }
}

TEST(GoFormatFloatJson, FixedBetweenOneMillionthAnd1e21) {
  EXPECT_EQ(go_format_float_json(0), "0");
  EXPECT_EQ(go_format_float_json(-0.0), "-0");
  EXPECT_EQ(go_format_float_json(1), "1");
  EXPECT_EQ(go_format_float_json(-3.25), "-3.25");
  EXPECT_EQ(go_format_float_json(1234567), "1234567");
  EXPECT_EQ(go_format_float_json(1e20), "100000000000000000000");
  EXPECT_EQ(go_format_float_json(999999999999999900000.0), "999999999999999900000");
  EXPECT_EQ(go_format_float_json(1e21), "1e+21");
  EXPECT_EQ(go_format_float_json(-1.5e300), "-1.5e+300");
  EXPECT_EQ(go_format_float_json(123456789012345678.0), "123456789012345680");
  EXPECT_EQ(go_format_float_json(1e-6), "0.000001");
  EXPECT_EQ(go_format_float_json(0.00000123), "0.00000123");
  EXPECT_EQ(go_format_float_json(9.99e-7), "9.99e-07");
  EXPECT_EQ(go_format_float_json(-1.5e-7), "-1.5e-07");
  EXPECT_EQ(go_format_float_json(5e-324), "5e-324");
  EXPECT_EQ(go_format_float_json(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(go_format_float_json(NAN), "NaN");
  EXPECT_EQ(go_format_float_json(INFINITY), "+Inf");
  EXPECT_EQ(go_format_float_json(-INFINITY), "-Inf");
}

// Shortest digits must round-trip for any bit pattern.
TEST(GoFormatG, RoundTripsRandomBits) {
  uint64_t state = 0x9E3779B97F4A7C15;
  for (int i = 0; i < 20000; ++i) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    double v = bits_to_double(state);
    if (!std::isfinite(v)) continue;
    std::string g = go_format_g(v);
    EXPECT_EQ(std::bit_cast<uint64_t>(std::strtod(g.c_str(), nullptr)), state) << g;
    std::string f = go_format_float_json(v);
    EXPECT_EQ(std::bit_cast<uint64_t>(std::strtod(f.c_str(), nullptr)), state) << f;
  }
}

}  // namespace
}  // namespace promblock

namespace promblock {
namespace {

// Expected strings are what Go's json.Marshal writes (checked with Go; \b
// and \f as Go 1.22+ writes them, which builds Prometheus 3.x).
TEST(GoJsonString, EscapesAsEncodingJson) {
  EXPECT_EQ(go_json_string(""), "\"\"");
  EXPECT_EQ(go_json_string("a<b>&c"), "\"a\\u003cb\\u003e\\u0026c\"");
  EXPECT_EQ(go_json_string("q\"\\"), "\"q\\\"\\\\\"");
  EXPECT_EQ(go_json_string(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(go_json_string("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(go_json_string("\xc3\xa9\xe2\x80\xa8\xe2\x80\xa9x"), "\"\xc3\xa9\\u2028\\u2029x\"");
  EXPECT_EQ(go_json_string("bad\xff\xe2\x82z"), "\"bad\\ufffd\\ufffd\\ufffdz\"");
  EXPECT_EQ(go_json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(go_json_string("\xe6\x97\xa5\xe6\x9c\xac"), "\"\xe6\x97\xa5\xe6\x9c\xac\"");
  EXPECT_EQ(go_json_string("/'"), "\"/'\"");
}

}  // namespace
}  // namespace promblock
