#include "tsdb/verify/report.h"

namespace promblock::verify {

void Report::add(std::string_view kind, Problem p, size_t limit) {
  (p.severity == Severity::kError ? errors_ : warnings_)++;
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) it = kinds_.emplace(std::string(kind), KindCount{}).first;
  KindCount& k = it->second;
  p.kind = kind;
  if (++k.seen <= limit) {
    sink_(p);
    return;
  }
  ++k.left_out;
  if (k.file.empty()) k.file = p.file;
  if (p.severity == Severity::kError) k.severity = Severity::kError;
}

void Report::finish() {
  for (auto& [kind, k] : kinds_) {
    if (k.left_out == 0) continue;
    // Already counted; this line only tells that they exist.
    sink_({k.file, "", std::to_string(k.left_out) + " more like this not listed (" + kind + ")",
           k.severity, kind, k.left_out});
    k.left_out = 0;
  }
}

}  // namespace promblock::verify
