#pragma once
// Time and duration arguments as the CLI takes them (promblock(1)): times are
// RFC 3339, Unix seconds or `<int>ms`; durations use Prometheus syntax.
// All values are milliseconds, like timestamps in TSDB blocks.
#include <cstdint>
#include <string>
#include <string_view>

#include "tsdb/base/usage_error.h"

namespace promblock {

// "2023-11-14T22:13:20Z", "2023-11-14T23:13:20.5+01:00" (fraction beyond
// milliseconds is truncated, as Prometheus's timestamp.FromTime does),
// "1700000000" or "1700000000.123" or "-1.5" (Unix seconds, rounded to the
// millisecond as Prometheus's API does), "1700000000123ms".
// Throws UsageError naming the argument.
int64_t parse_time_ms(std::string_view text);

// Prometheus's model.ParseDuration: units y (365d) w d h m s ms, each at
// most once and in that order ("1h30m", "2w3d"), or "0". Never negative.
// Throws UsageError.
int64_t parse_duration_ms(std::string_view text);

// UTC, RFC 3339 with milliseconds, trailing fractional zeros dropped as in
// Go's time.RFC3339Nano: "2023-11-14T22:13:20.12Z", "2023-11-14T22:13:20Z".
std::string format_rfc3339_ms(int64_t ms);

// Prometheus's model.Duration.String: "2h", "1d", "1h30m", "1m30s",
// "500ms", "0s"; years and weeks only when they divide exactly ("2w",
// "1y", but "10d"). Negative values get a leading '-' (Prometheus would
// print nothing).
std::string format_duration_ms(int64_t ms);

}  // namespace promblock
