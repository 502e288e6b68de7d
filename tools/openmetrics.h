#pragma once
// Writes samples as OpenMetrics text that `promtool tsdb create-blocks-from
// openmetrics` reads back into the same samples.
#include <cstdint>
#include <string>
#include <string_view>

#include "tsdb/model/labels.h"

namespace promblock {

// "name{a=\"b\"}" for a series; its __name__ becomes the metric name. Names
// outside the legacy charset are quoted as Prometheus 3 writes them:
// {"my.metric","a.b"="c"}.
std::string openmetrics_series(const Labels& labels);

// Seconds with millisecond digits, chosen so that Prometheus's parser
// (which truncates seconds*1000 toward zero) gets exactly `ms` back.
std::string openmetrics_timestamp(int64_t ms);

// Appends a label value (or a quoted name) as the text formats escape it:
// backslash, double quote and newline.
void openmetrics_append_escaped(std::string& out, std::string_view v);

}  // namespace promblock
