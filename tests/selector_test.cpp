#include "tsdb/model/selector.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace promblock {
namespace {

// The matchers as PromQL text, e.g. {__name__="up", job=~"a.*"}.
std::string render(const std::vector<Matcher>& matchers) {
  std::string out = "{";
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i) out += ", ";
    out += matchers[i].to_string();
  }
  return out + "}";
}

std::string parse_error(std::string_view text) {
  try {
    auto matchers = parse_selector(text);
    return "parsed as " + render(matchers);
  } catch (const SelectorError& e) {
    return e.what();
  }
}

TEST(ParseSelector, MetricNameOnly) {
  auto m = parse_selector("up");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].type(), MatchType::kEqual);
  EXPECT_EQ(m[0].name(), "__name__");
  EXPECT_EQ(m[0].value(), "up");
}

TEST(ParseSelector, MetricNameCharacters) {
  EXPECT_EQ(render(parse_selector("job:rate5m_total:sum")), "{__name__=\"job:rate5m_total:sum\"}");
  EXPECT_EQ(render(parse_selector(":a")), "{__name__=\":a\"}");
  EXPECT_EQ(render(parse_selector("_")), "{__name__=\"_\"}");
}

TEST(ParseSelector, AllOperators) {
  auto m = parse_selector(R"(up{a="1",b!="2",c=~"3.*",d!~"4|5"})");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].name(), "__name__");
  EXPECT_EQ(m[1].type(), MatchType::kEqual);
  EXPECT_EQ(m[2].type(), MatchType::kNotEqual);
  EXPECT_EQ(m[3].type(), MatchType::kRegexMatch);
  EXPECT_EQ(m[4].type(), MatchType::kRegexNoMatch);
  EXPECT_EQ(m[4].name(), "d");
  EXPECT_EQ(m[4].value(), "4|5");
}

TEST(ParseSelector, WhitespaceAndTrailingComma) {
  EXPECT_EQ(render(parse_selector(" \t up \n{ job = \"a\" ,\r\n instance=~ 'x' , } ")),
            "{__name__=\"up\", job=\"a\", instance=~\"x\"}");
  EXPECT_EQ(render(parse_selector("{job=\"a\",}")), "{job=\"a\"}");
  EXPECT_EQ(render(parse_selector("up{}")), "{__name__=\"up\"}");
}

TEST(ParseSelector, LabelNamesThatLookLikeKeywords) {
  EXPECT_EQ(render(parse_selector("{by=\"1\", on=\"2\", offset=\"3\", __name__=\"x\"}")),
            "{by=\"1\", on=\"2\", offset=\"3\", __name__=\"x\"}");
}

TEST(ParseSelector, QuoteStyles) {
  EXPECT_EQ(parse_selector(R"({a="x"})")[0].value(), "x");
  EXPECT_EQ(parse_selector(R"({a='x'})")[0].value(), "x");
  EXPECT_EQ(parse_selector("{a=`x`}")[0].value(), "x");
  EXPECT_EQ(parse_selector(R"({a="it's"})")[0].value(), "it's");
  EXPECT_EQ(parse_selector(R"({a='say "hi"'})")[0].value(), "say \"hi\"");
  EXPECT_EQ(parse_selector(R"({a='it\'s'})")[0].value(), "it's");
  EXPECT_EQ(parse_selector(R"({a="say \"hi\""})")[0].value(), "say \"hi\"");
}

TEST(ParseSelector, Escapes) {
  EXPECT_EQ(parse_selector(R"({a="\a\b\f\n\r\t\v\\"})")[0].value(), "\a\b\f\n\r\t\v\\");
  EXPECT_EQ(parse_selector(R"({a="\x41\101\u00e9\U0001F600"})")[0].value(), "AA\u00e9\U0001F600");
  EXPECT_EQ(parse_selector(R"({a="\377\xff"})")[0].value(), "\xff\xff");  // raw bytes
  EXPECT_EQ(parse_selector(R"({a="\000x"})")[0].value(), std::string("\0x", 2));
  EXPECT_EQ(parse_selector(R"({a="\u65e5\u672C"})")[0].value(), "\u65e5\u672c");
  // Raw strings take backslashes and newlines literally.
  EXPECT_EQ(parse_selector("{a=`x\\.y\\n\nz`}")[0].value(), "x\\.y\\n\nz");
  // UTF-8 in the text is kept.
  EXPECT_EQ(parse_selector("{a=\"\u65e5\u672c\"}")[0].value(), "\u65e5\u672c");
}

TEST(ParseSelector, BadEscapes) {
  EXPECT_EQ(parse_error(R"({a="\q"})"),
            R"(bad selector "{a=\"\\q\"}": unknown escape sequence 'q' at position 4)");
  EXPECT_NE(parse_error(R"({a="\'"})").find("unknown escape sequence"), std::string::npos);
  EXPECT_NE(parse_error(R"({a='\"'})").find("unknown escape sequence"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\400"})").find("invalid Unicode code point"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\08"})").find("illegal character"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\x4"})").find("illegal character"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\xZZ"})").find("illegal character"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\ud800"})").find("invalid Unicode code point"), std::string::npos);
  EXPECT_NE(parse_error(R"({a="\U00110000"})").find("invalid Unicode code point"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({a="\)").find("escape sequence not terminated"), std::string::npos);
}

TEST(ParseSelector, Errors) {
  EXPECT_EQ(parse_error("{a=}"), R"(bad selector "{a=}": expected string at position 3)");
  EXPECT_EQ(parse_error(""),
            R"(bad selector "": expected metric name or '{' at position 0 (end of input))");
  EXPECT_EQ(parse_error("{}"),
            R"(bad selector "{}": vector selector must contain at least one non-empty matcher)");
  EXPECT_EQ(parse_error(R"({a="b")"),
            R"(bad selector "{a=\"b\"": expected ',' or '}' at position 6 (end of input))");
  EXPECT_EQ(parse_error(R"({a="b)"),
            R"(bad selector "{a=\"b": unterminated quoted string at position 3)");
  EXPECT_EQ(parse_error(R"({a==b})"), R"(bad selector "{a==b}": expected string at position 3)");
  EXPECT_EQ(parse_error(R"({,})"), R"(bad selector "{,}": expected label name at position 1)");
  EXPECT_EQ(parse_error(R"({a~="b"})"),
            R"(bad selector "{a~=\"b\"}": expected one of '=', '!=', '=~', '!~' at position 2)");
  EXPECT_EQ(parse_error(R"(up{a="b"} x)"),
            R"(bad selector "up{a=\"b\"} x": unexpected character 'x' at position 10)");
  EXPECT_EQ(parse_error("up[5m]"),
            R"(bad selector "up[5m]": unexpected character '[' at position 2)");
  EXPECT_EQ(parse_error("1up"), R"(bad selector "1up": expected metric name or '{' at position 0)");
  EXPECT_EQ(parse_error("{1a=\"b\"}"),
            R"(bad selector "{1a=\"b\"}": expected label name at position 1)");
  EXPECT_EQ(parse_error("{a:b=\"c\"}"),
            R"(bad selector "{a:b=\"c\"}": expected one of '=', '!=', '=~', '!~' at position 2)");
  EXPECT_EQ(parse_error("{a=\"b\" c=\"d\"}"),
            R"(bad selector "{a=\"b\" c=\"d\"}": expected ',' or '}' at position 7)");
  EXPECT_EQ(parse_error("{a=\"x\ny\"}"),
            R"(bad selector "{a=\"x\ny\"}": unterminated quoted string at position 3)");
  EXPECT_EQ(parse_error("{a=`x}"),
            R"(bad selector "{a=`x}": unterminated quoted string at position 3)");
  EXPECT_EQ(parse_error("{a=\"\xff\"}"),
            R"(bad selector "{a=\"\xff\"}": invalid UTF-8 in string at position 4)");
  EXPECT_EQ(parse_error("up{a=\"b\"}{c=\"d\"}"),
            R"(bad selector "up{a=\"b\"}{c=\"d\"}": unexpected character '{' at position 9)");
  EXPECT_EQ(parse_error("\u00e9"),
            R"(bad selector "é": expected metric name or '{' at position 0)");
}

TEST(ParseSelector, QuotedNamesOfPromQL3) {
  // A quoted string alone in the braces is the metric name.
  auto m = parse_selector(R"({"my.metric"})");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].type(), MatchType::kEqual);
  EXPECT_EQ(m[0].name(), "__name__");
  EXPECT_EQ(m[0].value(), "my.metric");
  EXPECT_EQ(render(parse_selector(R"({"my.metric", "a.b"="c"})")),
            R"({__name__="my.metric", "a.b"="c"})");
  EXPECT_EQ(render(parse_selector(R"({__name__="x", "a.b"=~"y"})")),
            R"({__name__="x", "a.b"=~"y"})");
  // Anywhere in the list, with any quote style, a trailing comma, spaces.
  EXPECT_EQ(render(parse_selector("{ job='a' , 'my metric' , }")),
            R"({job="a", __name__="my metric"})");
  EXPECT_EQ(render(parse_selector("{`a\\b`=\"1\", 'c'!~'2'}")), R"({"a\\b"="1", c!~"2"})");
  // Go escapes in quoted names; non-ASCII as is.
  m = parse_selector(R"({"a\u00e9\x41\n\"" = "v", "\u65e5\u672c"})");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name(),
            "a\xc3\xa9"
            "A\n\"");
  EXPECT_EQ(m[1].name(), "__name__");
  EXPECT_EQ(m[1].value(), "\xe6\x97\xa5\xe6\x9c\xac");
  EXPECT_EQ(render(parse_selector("{\"\xc3\xa9t\xc3\xa9\"=\"1\"}")),
            "{\"\xc3\xa9t\xc3\xa9\"=\"1\"}");
  // A legacy name may be quoted too; it is the same name.
  EXPECT_EQ(render(parse_selector(R"(up{"job"="a"})")), R"({__name__="up", job="a"})");
  // Metric name outside and quoted inside: both must hold.
  EXPECT_EQ(render(parse_selector(R"(up{"my.metric"})")),
            R"({__name__="up", __name__="my.metric"})");
}

TEST(ParseSelector, QuotedNameErrors) {
  // PromQL 3 takes a quoted metric name only inside the braces.
  EXPECT_EQ(parse_error(R"("my.metric")"),
            R"(bad selector "\"my.metric\"": expected metric name or '{' (a quoted metric name )"
            R"(goes inside the braces, as in {"my.metric"}) at position 0)");
  EXPECT_EQ(parse_error(R"({"a.b"=})"),
            R"(bad selector "{\"a.b\"=}": expected string at position 7)");
  EXPECT_EQ(
      parse_error(R"({"a.b" "c"})"),
      R"(bad selector "{\"a.b\" \"c\"}": expected one of '=', '!=', '=~', '!~' at position 7)");
  EXPECT_EQ(parse_error(R"({"a.b")"),
            R"(bad selector "{\"a.b\"": expected ',' or '}' at position 6 (end of input))");
  EXPECT_EQ(parse_error(R"({"a\q"})"),
            R"(bad selector "{\"a\\q\"}": unknown escape sequence 'q' at position 3)");
  // The metric name matcher alone matching "" is no selector.
  EXPECT_EQ(
      parse_error(R"({""})"),
      R"(bad selector "{\"\"}": vector selector must contain at least one non-empty matcher)");
  // A bare identifier is no metric name inside the braces.
  EXPECT_EQ(parse_error("{up}"),
            R"(bad selector "{up}": expected one of '=', '!=', '=~', '!~' at position 3)");
}

TEST(MatchesAll, QuotedNames) {
  auto m = parse_selector(R"({"my.metric", "a.b"=~"c|d"})");
  EXPECT_TRUE(matches_all(m, Labels{{"__name__", "my.metric"}, {"a.b", "d"}}));
  EXPECT_FALSE(matches_all(m, Labels{{"__name__", "my.metric"}, {"a_b", "d"}}));
  EXPECT_FALSE(matches_all(m, Labels{{"__name__", "my_metric"}, {"a.b", "c"}}));
}

TEST(ParseSelector, MetricNameAlsoInBraces) {
  // Both must hold, as with Prometheus's ParseMetricSelector.
  EXPECT_EQ(render(parse_selector(R"(up{__name__=~"u.*"})")),
            R"({__name__="up", __name__=~"u.*"})");
  EXPECT_EQ(parse_selector(R"({__name__="a",__name__=~"a|b"})").size(), 2u);
}

TEST(ParseSelector, KeywordsAsMetricNames) {
  // Aggregations and most keywords are fine as metric names ...
  for (const char* name : {"sum", "by", "offset", "without", "and", "topk", "start", "infinity",
                           "nan_x", "inf:x", "Sum"})
    EXPECT_EQ(parse_selector(name)[0].value(), name);
  // ... but numbers and these keywords are not (any case).
  for (const char* name :
       {"inf", "NaN", "INF", "bool", "On", "ignoring", "group_left", "group_right", "atan2"})
    EXPECT_NE(parse_error(name).find("is a PromQL keyword"), std::string::npos) << name;
  EXPECT_EQ(parse_error(R"(Inf{a="b"})"),
            R"(bad selector "Inf{a=\"b\"}": "Inf" is a PromQL keyword, not a metric name )"
            R"((use {__name__="Inf"}) at position 0)");
}

TEST(ParseSelector, Comments) {
  EXPECT_EQ(render(parse_selector("up # the metric")), R"({__name__="up"})");
  EXPECT_EQ(render(parse_selector("{# first\na=\"b\" # then\n, c=\"#d\"}")), R"({a="b", c="#d"})");
  EXPECT_EQ(render(parse_selector("# comment\nup")), R"({__name__="up"})");
}

TEST(ParseSelector, NeedsOneMatcherThatRejectsEmpty) {
  const char* kEmptyMatching[] = {R"({a=""})",   R"({a=~".*"})", R"({a!="x"})",
                                  R"({a!~"x"})", R"({a=~"x|"})", R"({a=~"", b=~"x*"  ,c=""})"};
  for (const char* text : kEmptyMatching)
    EXPECT_NE(parse_error(text).find("at least one non-empty matcher"), std::string::npos) << text;
  const char* kFine[] = {R"({a!=""})", R"({a=~".+"})", R"({a="x"})", R"({a!~""})",
                         R"({a=~".*", b="y"})"};
  for (const char* text : kFine) EXPECT_NO_THROW(parse_selector(text)) << text;
}

TEST(ParseSelector, InvalidRegex) {
  EXPECT_EQ(parse_error(R"({a=~"("})"),
            R"(bad selector "{a=~\"(\"}": invalid regular expression "(" at position 4: )"
            "missing ): (");
  EXPECT_NE(parse_error(R"({a!~"x**"})").find("invalid regular expression"), std::string::npos);
  // Valid only once wrapped in ^(?:...)$; Prometheus rejects it.
  EXPECT_NE(parse_error(R"({a=~"x)|(y"})").find("invalid regular expression"), std::string::npos);
  // RE2 knows \C (any byte), Go does not; inside \Q...\E it is literal.
  EXPECT_NE(parse_error(R"({a=~"x\\C"})").find("invalid escape sequence: \\C"), std::string::npos);
  EXPECT_NO_THROW(parse_selector(R"({a=~"\\Q\\C\\E"})"));
  EXPECT_NO_THROW(parse_selector(R"({a=~"x\\\\C"})"));  // escaped backslash, then C
  // Perl-only syntax that RE2/Go do not have.
  EXPECT_NE(parse_error(R"re({a=~"(?=x)"})re").find("invalid regular expression"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({a=~"(x)\\1"})").find("invalid regular expression"), std::string::npos);
}

TEST(ParseSelector, ErrorsAreUsageErrors) {
  try {
    parse_selector("{");
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("expected label name"), std::string::npos);
  }
  EXPECT_THROW(parse_selector("{"), Error);
}

TEST(Matcher, EqualAndNotEqual) {
  Matcher eq(MatchType::kEqual, "a", "x");
  EXPECT_TRUE(eq.matches("x"));
  EXPECT_FALSE(eq.matches("X"));
  EXPECT_FALSE(eq.matches("xx"));
  EXPECT_FALSE(eq.matches(""));
  EXPECT_FALSE(eq.matches_empty());
  Matcher ne(MatchType::kNotEqual, "a", "x");
  EXPECT_FALSE(ne.matches("x"));
  EXPECT_TRUE(ne.matches(""));
  EXPECT_TRUE(ne.matches_empty());
  EXPECT_TRUE(Matcher(MatchType::kEqual, "a", "").matches_empty());
  EXPECT_FALSE(Matcher(MatchType::kNotEqual, "a", "").matches_empty());
}

TEST(Matcher, RegexIsFullyAnchored) {
  Matcher re(MatchType::kRegexMatch, "a", "foo|bar");
  EXPECT_TRUE(re.matches("foo"));
  EXPECT_TRUE(re.matches("bar"));
  EXPECT_FALSE(re.matches("foobar"));
  EXPECT_FALSE(re.matches("xfoo"));
  EXPECT_FALSE(re.matches("barx"));
  EXPECT_FALSE(re.matches_empty());
  Matcher prefix(MatchType::kRegexMatch, "a", "api-.*");
  EXPECT_TRUE(prefix.matches("api-1"));
  EXPECT_FALSE(prefix.matches("my-api-1"));
  // An anchor the user wrote stays harmless.
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "^x$").matches("x"));
}

TEST(Matcher, RegexDotAndNewline) {
  // Go regexp: '.' does not match \n unless (?s); '$' is end of text only.
  EXPECT_FALSE(Matcher(MatchType::kRegexMatch, "a", ".*").matches("a\nb"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "(?s).*").matches("a\nb"));
  EXPECT_FALSE(Matcher(MatchType::kRegexMatch, "a", "x").matches("x\n"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "[^y]*").matches("a\nb"));  // classes do
  // (?m) inside the pattern does not leak into the outer anchors.
  EXPECT_FALSE(Matcher(MatchType::kRegexMatch, "a", "(?m)x$").matches("x\ny"));
}

TEST(Matcher, RegexSyntax) {
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "\\d+").matches("123"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "(?i)FOO").matches("foo"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "[[:alpha:]]+").matches("abc"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "\\p{Greek}+").matches("\u03b1\u03b2"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "(?P<n>x)y").matches("xy"));
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", ".").matches("\u65e5"));  // one rune
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "a.c").matches("a\u00e9c"));
}

TEST(Matcher, RegexNoMatchAndEmpty) {
  Matcher nre(MatchType::kRegexNoMatch, "a", "x.*");
  EXPECT_FALSE(nre.matches("xy"));
  EXPECT_TRUE(nre.matches("yx"));
  EXPECT_TRUE(nre.matches_empty());
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "x|").matches_empty());
  EXPECT_TRUE(Matcher(MatchType::kRegexMatch, "a", "").matches_empty());
  EXPECT_FALSE(Matcher(MatchType::kRegexMatch, "a", "").matches("x"));
  EXPECT_FALSE(Matcher(MatchType::kRegexNoMatch, "a", ".*").matches_empty());
}

TEST(Matcher, InvalidRegexThrows) {
  EXPECT_THROW(Matcher(MatchType::kRegexMatch, "a", "(("), SelectorError);
  EXPECT_THROW(Matcher(MatchType::kRegexNoMatch, "a", "[a-"), Error);
  EXPECT_NO_THROW(Matcher(MatchType::kEqual, "a", "(("));  // not a regex
}

TEST(Matcher, CopiesShareTheRegex) {
  std::vector<Matcher> v;
  {
    Matcher m(MatchType::kRegexMatch, "a", "b+");
    v.push_back(m);
    v.push_back(m);
  }
  EXPECT_TRUE(v[0].matches("bbb"));
  EXPECT_TRUE(v[1].matches("b"));
  EXPECT_FALSE(v[1].matches("a"));
}

TEST(MatchesAll, AbsentLabelIsEmpty) {
  Labels ls = {{"__name__", "up"}, {"instance", "a:1"}, {"job", "api"}};
  EXPECT_TRUE(matches_all(parse_selector(R"(up{job="api"})"), ls));
  EXPECT_FALSE(matches_all(parse_selector(R"(up{job="web"})"), ls));
  EXPECT_FALSE(matches_all(parse_selector(R"(down{job="api"})"), ls));
  EXPECT_TRUE(matches_all(parse_selector(R"(up{zone=""})"), ls));
  EXPECT_TRUE(matches_all(parse_selector(R"(up{zone!="x"})"), ls));
  EXPECT_FALSE(matches_all(parse_selector(R"(up{zone!=""})"), ls));
  EXPECT_TRUE(matches_all(parse_selector(R"(up{zone=~"|eu"})"), ls));
  EXPECT_FALSE(matches_all(parse_selector(R"(up{zone=~"eu"})"), ls));
  EXPECT_TRUE(matches_all(parse_selector(R"({instance=~"a:\\d"})"), ls));
  EXPECT_FALSE(matches_all(parse_selector(R"({instance!~"a:.*", job="api"})"), ls));
  EXPECT_TRUE(matches_all({}, ls));
}

TEST(Matcher, ToString) {
  EXPECT_EQ(Matcher(MatchType::kRegexNoMatch, "a", "x\"y").to_string(), R"(a!~"x\"y")");
  EXPECT_EQ(Matcher(MatchType::kNotEqual, "a", "\n").to_string(), R"(a!="\n")");
}

}  // namespace
}  // namespace promblock
