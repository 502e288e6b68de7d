#include "tsdb/model/selector.h"

#include <re2/re2.h>

#include "tsdb/base/go_format.h"

namespace promblock {
namespace {

constexpr std::string_view kMetricNameLabel = "__name__";

bool is_alpha(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_quote(char c) { return c == '"' || c == '\'' || c == '`'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, char32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at the start of s, 0 if invalid.
size_t utf8_width(std::string_view s) {
  char32_t rune;
  return go_decode_rune(s, rune);
}

// Words PromQL's lexer turns into numbers or keywords that its grammar does
// not take as a metric name (case-insensitive). Others, like `sum` or
// `offset`, are fine as metric names.
bool is_reserved_word(std::string_view word) {
  static constexpr std::string_view kReserved[] = {
      "inf", "nan", "bool", "on", "ignoring", "group_left", "group_right", "atan2"};
  std::string lower(word);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (std::string_view reserved : kReserved)
    if (lower == reserved) return true;
  return false;
}

// Whether a regex uses \C (any byte), which RE2 accepts and Go rejects.
// \Q...\E quotes its contents literally, so it is skipped.
bool has_any_byte_escape(std::string_view regex) {
  for (size_t i = 0; i + 1 < regex.size(); ++i) {
    if (regex[i] != '\\') continue;
    char next = regex[++i];
    if (next == 'C') return true;
    if (next == 'Q') {
      size_t end = regex.find("\\E", i + 1);
      if (end == std::string_view::npos) return false;
      i = end + 1;
    }
  }
  return false;
}

std::string regex_error_head(std::string_view regex) {
  return "invalid regular expression " + go_quote(regex);
}

// Recursive descent over the selector grammar, following PromQL's lexer
// (promql/parser/lex.go) for identifiers, strings and escapes.
class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  std::vector<Matcher> parse() {
    std::vector<Matcher> matchers;
    skip_space();
    bool has_name = false;
    if (!at_end() && (is_alpha(peek()) || peek() == ':')) {
      size_t name_pos = pos_;
      std::string name = metric_name();
      if (is_reserved_word(name)) {
        std::string quoted = go_quote(name);
        fail_at(name_pos,
                quoted + " is a PromQL keyword, not a metric name (use {__name__=" + quoted + "})");
      }
      matchers.emplace_back(MatchType::kEqual, std::string(kMetricNameLabel), std::move(name));
      has_name = true;
      skip_space();
    }
    if (!at_end() && peek() == '{') {
      parse_braces(matchers);
      skip_space();
    } else if (!has_name && !at_end() && is_quote(peek())) {
      fail_here(
          "expected metric name or '{' (a quoted metric name goes inside the braces, "
          "as in {\"my.metric\"})");
    } else if (!has_name) {
      fail_here("expected metric name or '{'");
    }
    if (!at_end()) fail_here("unexpected character " + describe(pos_));
    bool any_non_empty = false;
    for (const auto& m : matchers) any_non_empty |= !m.matches_empty();
    if (!any_non_empty) fail("vector selector must contain at least one non-empty matcher");
    return matchers;
  }

 private:
  void parse_braces(std::vector<Matcher>& matchers) {
    ++pos_;  // '{'
    while (true) {
      skip_space();
      if (!at_end() && peek() == '}') break;  // `{}` or a trailing comma
      // `up{__name__="x"}` is two matchers that both must hold, as in
      // Prometheus's ParseMetricSelector (only full queries reject it).
      // PromQL 3: a name may be quoted ("a.b"="c"), and a quoted string on
      // its own is the metric name ({"my.metric"}), anywhere in the list.
      std::string name;
      if (!at_end() && is_quote(peek())) {
        name = string_literal();
        skip_space();
        if (at_end() || peek() == ',' || peek() == '}') {
          matchers.emplace_back(MatchType::kEqual, std::string(kMetricNameLabel), std::move(name));
          if (!at_end() && peek() == ',') {
            ++pos_;
            continue;
          }
          if (at_end()) fail_here("expected ',' or '}'");
          break;
        }
      } else {
        name = label_name();
        skip_space();
      }
      MatchType type = match_op();
      skip_space();
      size_t value_pos = pos_;
      std::string value = string_literal();
      try {
        matchers.emplace_back(type, std::move(name), value);
      } catch (const SelectorError& e) {
        // Put the position before RE2's explanation, which ends the message.
        std::string head = regex_error_head(value);
        std::string_view detail = e.what();
        detail.remove_prefix(head.size() + 2);
        fail(head + " at position " + std::to_string(value_pos) + ": " + std::string(detail));
      }
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      if (at_end() || peek() != '}') fail_here("expected ',' or '}'");
      break;
    }
    ++pos_;  // '}'
  }

  std::string metric_name() {
    size_t start = pos_;
    while (!at_end() && (is_alpha(peek()) || is_digit(peek()) || peek() == ':')) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string label_name() {
    if (at_end() || !is_alpha(peek())) fail_here("expected label name");
    size_t start = pos_;
    while (!at_end() && (is_alpha(peek()) || is_digit(peek()))) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  MatchType match_op() {
    std::string_view rest = text_.substr(pos_);
    auto take = [&](size_t n, MatchType type) {
      pos_ += n;
      return type;
    };
    if (rest.starts_with("=~")) return take(2, MatchType::kRegexMatch);
    if (rest.starts_with("!=")) return take(2, MatchType::kNotEqual);
    if (rest.starts_with("!~")) return take(2, MatchType::kRegexNoMatch);
    if (rest.starts_with("=")) return take(1, MatchType::kEqual);
    fail_here("expected one of '=', '!=', '=~', '!~'");
  }

  std::string string_literal() {
    if (at_end() || (peek() != '"' && peek() != '\'' && peek() != '`'))
      fail_here("expected string");
    size_t start = pos_;
    char quote = text_[pos_++];
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated quoted string");
      char c = peek();
      if (c == quote) {
        ++pos_;
        return out;
      }
      if (c == '\n' && quote != '`') fail_at(start, "unterminated quoted string");
      if (c == '\\' && quote != '`') {
        escape(quote, out);
        continue;
      }
      size_t width = utf8_width(text_.substr(pos_));
      if (width == 0) fail_here("invalid UTF-8 in string");
      out.append(text_.substr(pos_, width));
      pos_ += width;
    }
  }

  // One escape sequence (Go's, as strconv.Unquote and PromQL's lexer take
  // them): \a \b \f \n \r \t \v \\, the opening quote, \NNN octal and \xNN
  // (one byte each, up to 255), \uNNNN and \UNNNNNNNN (a code point, written
  // as UTF-8; surrogates and values above U+10FFFF are invalid).
  void escape(char quote, std::string& out) {
    size_t start = pos_++;  // the backslash
    if (at_end()) fail_at(start, "escape sequence not terminated");
    char c = text_[pos_++];
    static constexpr std::string_view kLetters = "abfnrtv\\";
    static constexpr std::string_view kMeanings = "\a\b\f\n\r\t\v\\";
    if (size_t i = kLetters.find(c); i != std::string_view::npos) {
      out += kMeanings[i];
      return;
    }
    if (c == quote) {
      out += c;
      return;
    }
    int digits, base;
    uint32_t max;
    if (c >= '0' && c <= '7') {
      --pos_;  // the first digit is part of the number
      digits = 3, base = 8, max = 255;
    } else if (c == 'x') {
      digits = 2, base = 16, max = 255;
    } else if (c == 'u') {
      digits = 4, base = 16, max = 0x10FFFF;
    } else if (c == 'U') {
      digits = 8, base = 16, max = 0x10FFFF;
    } else {
      fail_at(start, "unknown escape sequence " + describe(pos_ - 1));
    }
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      int d = at_end() ? -1 : hex_value(peek());
      if (d < 0 || d >= base) fail_at(start, "illegal character in escape sequence");
      value = value * base + d;
      ++pos_;
    }
    if (value > max || (value >= 0xD800 && value < 0xE000))
      fail_at(start, "escape sequence is an invalid Unicode code point");
    if (base == 8 || c == 'x') {
      out += static_cast<char>(value);  // a raw byte, possibly not UTF-8
    } else {
      append_utf8(out, value);
    }
  }

  // Whitespace and PromQL comments ('#' to the end of the line).
  void skip_space() {
    while (!at_end()) {
      if (is_space(peek())) {
        ++pos_;
      } else if (peek() == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  // 'x' for a printable ASCII character, its Go quoting otherwise.
  std::string describe(size_t pos) const {
    char c = text_[pos];
    if (c > ' ' && c < 0x7F) return std::string("'") + c + "'";
    size_t width = utf8_width(text_.substr(pos));
    return go_quote(text_.substr(pos, width ? width : 1));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw SelectorError("bad selector " + go_quote(text_) + ": " + what);
  }
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    std::string where = " at position " + std::to_string(pos);
    if (pos >= text_.size()) where += " (end of input)";
    fail(what + where);
  }
  [[noreturn]] void fail_here(const std::string& what) const { fail_at(pos_, what); }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Matcher::Matcher(MatchType type, std::string name, std::string value)
    : type_(type), name_(std::move(name)), value_(std::move(value)) {
  if (type_ == MatchType::kRegexMatch || type_ == MatchType::kRegexNoMatch) {
    // Prometheus compiles "^(?:" + value + ")$" with Go's regexp; RE2's
    // defaults are the same dialect (Perl classes, `.` not matching "\n"
    // without (?s)). Compiling the bare value first rejects what Prometheus's
    // extra syntax.Parse rejects, e.g. "a)|(b", which only the wrapped form
    // would accept.
    RE2::Options options;
    options.set_log_errors(false);
    RE2 bare(value_, options);
    if (!bare.ok()) throw SelectorError(regex_error_head(value_) + ": " + bare.error());
    if (has_any_byte_escape(value_))
      throw SelectorError(regex_error_head(value_) + ": invalid escape sequence: \\C");
    regex_ = std::make_shared<const RE2>("^(?:" + value_ + ")$", options);
    if (!regex_->ok()) throw SelectorError(regex_error_head(value_) + ": " + regex_->error());
  }
  matches_empty_ = matches("");
}

bool Matcher::matches(std::string_view value) const {
  switch (type_) {
    case MatchType::kEqual:
      return value == value_;
    case MatchType::kNotEqual:
      return value != value_;
    case MatchType::kRegexMatch:
      return RE2::PartialMatch(value, *regex_);
    case MatchType::kRegexNoMatch:
      return !RE2::PartialMatch(value, *regex_);
  }
  return false;
}

std::string Matcher::to_string() const {
  static constexpr std::string_view kOps[] = {"=", "!=", "=~", "!~"};
  std::string name = is_legacy_label_name(name_) ? name_ : go_quote(name_);
  return name + std::string(kOps[static_cast<int>(type_)]) + go_quote(value_);
}

std::vector<Matcher> parse_selector(std::string_view text) { return SelectorParser(text).parse(); }

bool matches_all(const std::vector<Matcher>& matchers, const Labels& labels) {
  for (const auto& m : matchers)
    if (!m.matches(label_value(labels, m.name()))) return false;
  return true;
}

}  // namespace promblock
