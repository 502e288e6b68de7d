#pragma once
// Text formatting that matches Go's standard library byte for byte, so our
// output equals what Prometheus's tools print.
#include <cstddef>
#include <string>
#include <string_view>

namespace promblock {

// Go's strconv.Quote: double-quoted, with Go escapes (\a \b \f \n \r \t \v
// \\ \" , \xNN for invalid UTF-8 bytes, \uNNNN / \UNNNNNNNN for non-printable
// runes); printable UTF-8 is kept as is. "Printable" is Go's unicode.IsPrint
// as of the Go release that built promtool 2.42 (Go 1.19, Unicode 13.0).
std::string go_quote(std::string_view s);

// A string as Go's encoding/json Marshal writes it (Go 1.22 and later, which
// build Prometheus 3.x): double-quoted; \" \\ \b \f \n \r \t; other
// control characters as \u00XX (lower-case hex); <, > and & as \u003c,
// \u003e, \u0026 (HTML escaping); U+2028, U+2029 as \u2028, \u2029; every
// byte that is not valid UTF-8 as \ufffd; everything else as is.
std::string go_json_string(std::string_view s);

// Go's utf8.DecodeRuneInString, strictly: the width in bytes of the rune
// that starts s (stored in `rune`), or 0 when s is empty or does not start
// with valid UTF-8 (overlong forms, surrogates, values above U+10FFFF).
size_t go_decode_rune(std::string_view s, char32_t& rune);

// Go's fmt "%g" of a float64, i.e. strconv.FormatFloat(v, 'g', -1, 64):
// shortest digits that round-trip, exponent form chosen by Go's rule;
// "NaN", "+Inf", "-Inf".
std::string go_format_g(double v);

// A sample value as Prometheus's HTTP API writes it (web/api/v1's
// marshalFloat): strconv.FormatFloat(v, 'f', -1, 64), except 'e' (shortest
// digits, e.g. "1e+21", "1.5e-07") when 0 < |v| < 1e-6 or |v| >= 1e21.
// "NaN", "+Inf", "-Inf", "-0".
std::string go_format_float_json(double v);

}  // namespace promblock
