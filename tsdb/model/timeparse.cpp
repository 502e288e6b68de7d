#include "tsdb/model/timeparse.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <limits>
#include <optional>

#include "tsdb/base/go_format.h"

namespace promblock {
namespace {

constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerDay = 86'400'000;

[[noreturn]] void bad_time(std::string_view text, const std::string& why) {
  throw UsageError("invalid time " + go_quote(text) + ": " + why);
}

[[noreturn]] void bad_duration(std::string_view text, const std::string& why) {
  throw UsageError("invalid duration " + go_quote(text) + ": " + why);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) {
  for (char c : s)
    if (!is_digit(c)) return false;
  return !s.empty();
}

// Non-negative decimal integer; nullopt when empty, not all digits or too big.
std::optional<int64_t> parse_uint(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  int64_t value;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> checked_mul_add(int64_t a, int64_t b, int64_t c) {
  int64_t product, sum;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum))
    return std::nullopt;
  return sum;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int month, day;
};

CivilDate civil_from_days(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2), month, day};
}

int days_in_month(int64_t year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Fixed-width field of `width` digits at `pos`, or bad_time.
int fixed_field(std::string_view text, size_t pos, size_t width, const char* what) {
  std::string_view field = text.substr(pos, width);
  if (field.size() != width || !all_digits(field)) bad_time(text, std::string("bad ") + what);
  return static_cast<int>(*parse_uint(field));
}

void expect_char(std::string_view text, size_t pos, std::string_view allowed) {
  if (pos >= text.size() || allowed.find(text[pos]) == std::string_view::npos)
    bad_time(text,
             "expected '" + std::string(1, allowed[0]) + "' at position " + std::to_string(pos));
}

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
int64_t parse_rfc3339(std::string_view text) {
  int year = fixed_field(text, 0, 4, "year");
  expect_char(text, 4, "-");
  int month = fixed_field(text, 5, 2, "month");
  expect_char(text, 7, "-");
  int day = fixed_field(text, 8, 2, "day");
  expect_char(text, 10, "Tt");
  int hour = fixed_field(text, 11, 2, "hour");
  expect_char(text, 13, ":");
  int minute = fixed_field(text, 14, 2, "minute");
  expect_char(text, 16, ":");
  int second = fixed_field(text, 17, 2, "second");
  if (month < 1 || month > 12) bad_time(text, "month out of range");
  if (day < 1 || day > days_in_month(year, month)) bad_time(text, "day out of range");
  if (hour > 23) bad_time(text, "hour out of range");
  if (minute > 59) bad_time(text, "minute out of range");
  if (second > 59) bad_time(text, "second out of range");  // Go rejects leap seconds too

  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    size_t start = ++pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == start) bad_time(text, "empty fraction of a second");
    // Digits past milliseconds are dropped: Prometheus's timestamp.FromTime
    // truncates nanoseconds to milliseconds.
    for (size_t i = start; i < start + 3; ++i) millis = millis * 10 + (i < pos ? text[i] - '0' : 0);
  }

  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    int offset_hour = fixed_field(text, pos + 1, 2, "zone offset hour");
    expect_char(text, pos + 3, ":");
    int offset_minute = fixed_field(text, pos + 4, 2, "zone offset minute");
    if (offset_hour > 23 || offset_minute > 59) bad_time(text, "zone offset out of range");
    offset_minutes = sign * (offset_hour * 60 + offset_minute);
    pos += 6;
  } else {
    bad_time(text, "expected 'Z' or a zone offset like +01:00 at position " + std::to_string(pos));
  }
  if (pos != text.size()) bad_time(text, "unexpected text after the zone");

  int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                    offset_minutes * 60;
  return seconds * kMsPerSecond + millis;
}

// [-+]digits[.digits] seconds, rounded half away from zero to milliseconds.
int64_t parse_unix_seconds(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string_view whole = s.substr(0, s.find('.'));
  std::string_view fraction =
      whole.size() < s.size() ? s.substr(whole.size() + 1) : std::string_view();
  if (whole.size() < s.size() && fraction.empty()) bad_time(text, "empty fraction of a second");
  if (!fraction.empty() && !all_digits(fraction)) bad_time(text, "bad fraction of a second");
  if (!all_digits(whole)) bad_time(text, "expected digits before the decimal point");
  auto seconds = parse_uint(whole);
  if (!seconds) bad_time(text, "out of range");
  int64_t millis = 0;
  for (size_t i = 0; i < 3; ++i)
    millis = millis * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  if (fraction.size() > 3 && fraction[3] >= '5') ++millis;
  auto magnitude = checked_mul_add(*seconds, kMsPerSecond, millis);
  if (!magnitude) bad_time(text, "out of range");
  return negative ? -*magnitude : *magnitude;
}

// Whether text looks like a number of seconds rather than a date: the
// first digit run is not followed by '-' (a date's year is).
bool looks_numeric(std::string_view text) {
  size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  return i == text.size() || text[i] == '.';
}

}  // namespace

int64_t parse_time_ms(std::string_view text) {
  if (text.empty()) bad_time(text, "empty");
  if (text.ends_with("ms")) {
    std::string_view digits = text.substr(0, text.size() - 2);
    bool negative = !digits.empty() && digits[0] == '-';
    if (negative || (!digits.empty() && digits[0] == '+')) digits.remove_prefix(1);
    if (!all_digits(digits))
      bad_time(text, "milliseconds must be an integer, e.g. 1700000000000ms");
    auto ms = parse_uint(digits);
    if (!ms) bad_time(text, "out of range");
    return negative ? -*ms : *ms;
  }
  if (looks_numeric(text)) return parse_unix_seconds(text);
  if (text.size() >= 11 && text[4] == '-' && all_digits(text.substr(0, 4)))
    return parse_rfc3339(text);
  bad_time(text,
           "expected RFC 3339 (2023-11-14T22:13:20Z), Unix seconds or milliseconds with an "
           "\"ms\" suffix");
}

int64_t parse_duration_ms(std::string_view text) {
  if (text.empty()) bad_duration(text, "empty");
  if (text == "0") return 0;  // Prometheus allows 0 without a unit
  if (text[0] == '-') bad_duration(text, "durations cannot be negative");
  struct Unit {
    std::string_view name;
    int64_t ms;
  };
  // In the order Prometheus requires them.
  static constexpr Unit kUnits[] = {
      {"y", 365 * kMsPerDay}, {"w", 7 * kMsPerDay}, {"d", kMsPerDay}, {"h", 3'600'000},
      {"m", 60'000},          {"s", 1000},          {"ms", 1}};
  constexpr size_t kUnitCount = std::size(kUnits);
  int64_t total = 0;
  size_t next_unit = 0;  // units before this one are used up
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == start) bad_duration(text, "expected a number at position " + std::to_string(pos));
    auto count = parse_uint(text.substr(start, pos - start));
    size_t unit = kUnitCount;
    if (text.substr(pos).starts_with("ms")) {
      unit = kUnitCount - 1;
    } else if (pos < text.size()) {
      for (size_t u = 0; u + 1 < kUnitCount; ++u)
        if (text[pos] == kUnits[u].name[0]) unit = u;
    }
    if (unit == kUnitCount)
      bad_duration(text,
                   "expected a unit (y, w, d, h, m, s, ms) at position " + std::to_string(pos));
    if (unit < next_unit)
      bad_duration(text, "units must appear once each, largest first (e.g. 1d12h)");
    std::optional<int64_t> sum =
        count ? checked_mul_add(*count, kUnits[unit].ms, total) : std::nullopt;
    if (!sum) bad_duration(text, "out of range");
    total = *sum;
    next_unit = unit + 1;
    pos += kUnits[unit].name.size();
  }
  return total;
}

std::string format_rfc3339_ms(int64_t ms) {
  // Floor division, so times before 1970 land on the right day.
  int64_t days = ms / kMsPerDay;
  int64_t rest = ms % kMsPerDay;
  if (rest < 0) {
    rest += kMsPerDay;
    --days;
  }
  CivilDate date = civil_from_days(days);
  char buf[64];
  int64_t year = date.year;
  int n = std::snprintf(buf, sizeof buf, "%s%04lld-%02d-%02dT%02d:%02d:%02d", year < 0 ? "-" : "",
                        static_cast<long long>(year < 0 ? -year : year), date.month, date.day,
                        static_cast<int>(rest / 3'600'000), static_cast<int>(rest / 60'000 % 60),
                        static_cast<int>(rest / 1000 % 60));
  std::string out(buf, n);
  if (int millis = static_cast<int>(rest % 1000); millis != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", millis);
    std::string fraction(buf);
    while (fraction.back() == '0') fraction.pop_back();
    out += fraction;
  }
  out += 'Z';
  return out;
}

std::string format_duration_ms(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  // Magnitude as unsigned, so INT64_MIN works too.
  uint64_t left = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  if (ms < 0) out += '-';
  auto emit = [&](const char* unit, uint64_t unit_ms, bool only_if_exact) {
    if (only_if_exact && left % unit_ms != 0) return;
    if (uint64_t count = left / unit_ms; count > 0) {
      out += std::to_string(count);
      out += unit;
      left -= count * unit_ms;
    }
  };
  // Like Prometheus: years and weeks only when exact ("90d" reads better
  // than "12w6d").
  emit("y", 365 * kMsPerDay, true);
  emit("w", 7 * kMsPerDay, true);
  emit("d", kMsPerDay, false);
  emit("h", 3'600'000, false);
  emit("m", 60'000, false);
  emit("s", 1000, false);
  emit("ms", 1, false);
  return out;
}

}  // namespace promblock
