#include "tsdb/query/postings_match.h"

namespace promblock {

namespace {

// Union of the postings of every value of the matcher's label for which
// `want` equals whether the matcher matches that value.
roaring::Roaring union_of_values(const index::IndexReader& index, const Matcher& m, bool want) {
  roaring::Roaring out;
  if (m.type() == MatchType::kEqual && want) return index.postings(m.name(), m.value());
  for (std::string_view value : index.label_values(m.name()))
    if (m.matches(value) == want) out |= index.postings(m.name(), value);
  return out;
}

}  // namespace

roaring::Roaring postings_for_matchers(const index::IndexReader& index,
                                       const std::vector<Matcher>& matchers) {
  // Matchers that match the empty string also select series without the
  // label, so they are applied by subtracting the values they reject.
  roaring::Roaring result;
  bool have_positive = false;
  for (const auto& m : matchers) {
    if (m.matches_empty()) continue;
    roaring::Roaring p = union_of_values(index, m, true);
    if (!have_positive) {
      result = std::move(p);
      have_positive = true;
    } else {
      result &= p;
    }
  }
  if (!have_positive) result = index.all_postings();
  for (const auto& m : matchers) {
    if (!m.matches_empty()) continue;
    result -= union_of_values(index, m, false);
  }
  return result;
}

}  // namespace promblock
