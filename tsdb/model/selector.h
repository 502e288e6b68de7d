#pragma once
// PromQL series selectors (`up{job="api",instance=~"a.*"}`) and the label
// matchers they consist of, with Prometheus's semantics: an absent label
// reads as the empty value, regexes are Go/RE2 syntax and fully anchored.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/base/usage_error.h"
#include "tsdb/model/labels.h"

namespace re2 {
class RE2;
}

namespace promblock {

// A selector that does not parse, or a matcher with an invalid regex. It is a
// UsageError: the CLI exits with code 2.
class SelectorError : public UsageError {
 public:
  using UsageError::UsageError;
};

enum class MatchType { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

class Matcher {
 public:
  // Throws SelectorError when a regex type is given an invalid regex.
  Matcher(MatchType type, std::string name, std::string value);

  bool matches(std::string_view value) const;
  // Whether the empty value matches: such a matcher also selects series
  // that lack the label, which matters when evaluating it on postings.
  bool matches_empty() const { return matches_empty_; }

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }

  // PromQL form, e.g. job=~"a.*" (value Go-quoted).
  std::string to_string() const;

 private:
  MatchType type_;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> regex_;  // shared: RE2 is not copyable
  bool matches_empty_ = false;
};

// Parses `metric`, `metric{...}` or `{...}` with matchers `name="v"`, `!=`,
// `=~`, `!~`; values in "...", '...' (Go escapes) or `...` (raw); a trailing
// comma and whitespace anywhere are allowed. The metric name becomes a
// __name__ equality matcher, placed first. Like Prometheus, at least one
// matcher must not match the empty string. Throws SelectorError naming the
// selector and the byte position of the problem.
std::vector<Matcher> parse_selector(std::string_view text);

// Whether every matcher matches its label's value (absent label = "").
bool matches_all(const std::vector<Matcher>& matchers, const Labels& labels);

}  // namespace promblock
