#pragma once
// Selects the series of an index that match a set of label matchers, by
// set operations on postings lists (as Prometheus's PostingsForMatchers).
#include <roaring/roaring.hh>
#include <vector>

#include "index/index_reader.h"
#include "tsdb/model/selector.h"

namespace promblock {

roaring::Roaring postings_for_matchers(const index::IndexReader& index,
                                       const std::vector<Matcher>& matchers);

}  // namespace promblock
