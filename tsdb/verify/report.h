#pragma once
// What `promblock verify` finds: problems, each naming the file of the
// block it is in and the series where there is one, collected per block.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace promblock::verify {

enum class Severity { kWarning, kError };

struct Problem {
  std::string file;    // relative to the block dir: "index", "chunks/000001", "meta.json"
  std::string series;  // Labels.String() of the series, empty when there is none
  std::string what;    // one line, what is wrong
  Severity severity = Severity::kError;
  std::string kind;    // the fixed phrase that groups it (Report::add), for counting
  uint64_t count = 1;  // problems it stands for: more on a "N more like this" line
};

// Receives the problems of one block and passes them on to a sink. So that a
// badly damaged block does not print millions of lines, at most
// `limit` problems of one kind are passed on; the rest are counted, and
// finish() passes one line per kind saying how many were left out.
class Report {
 public:
  using Sink = std::function<void(const Problem&)>;
  static constexpr size_t kDefaultLimit = 20;

  explicit Report(Sink sink) : sink_(std::move(sink)) {}

  // `kind` groups problems for the limit; it is a short fixed phrase such
  // as "chunk outside the block range".
  void add(std::string_view kind, Problem p, size_t limit = kDefaultLimit);
  void error(std::string_view kind, std::string file, std::string series, std::string what) {
    add(kind, {std::move(file), std::move(series), std::move(what), Severity::kError,
               std::string(kind), 1});
  }
  void warning(std::string_view kind, std::string file, std::string series, std::string what,
               size_t limit = kDefaultLimit) {
    add(kind,
        {std::move(file), std::move(series), std::move(what), Severity::kWarning, std::string(kind),
         1},
        limit);
  }
  // Passes on the "N more" lines of kinds over their limit.
  void finish();

  uint64_t errors() const { return errors_; }
  uint64_t warnings() const { return warnings_; }
  uint64_t total() const { return errors_ + warnings_; }

 private:
  struct KindCount {
    size_t seen = 0;
    size_t left_out = 0;
    std::string file;
    Severity severity = Severity::kWarning;
  };
  Sink sink_;
  std::map<std::string, KindCount, std::less<>> kinds_;
  uint64_t errors_ = 0;
  uint64_t warnings_ = 0;
};

}  // namespace promblock::verify
