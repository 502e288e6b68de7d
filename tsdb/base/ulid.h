#pragma once
// ULIDs name blocks: 48 bits of Unix milliseconds then 80 random bits, in
// Crockford base32 (26 characters). Sorting names sorts by creation time.
#include <cstdint>
#include <string>
#include <string_view>

namespace promblock {

// A new ULID for the given time (default: now), with fresh randomness.
std::string new_ulid(int64_t unix_ms = -1);

// True when s is a syntactically valid ULID (26 Crockford base32 chars,
// upper case, first char 0-7 so it fits 128 bits).
bool is_ulid(std::string_view s);

// The millisecond timestamp encoded in a valid ULID.
int64_t ulid_time_ms(std::string_view ulid);

}  // namespace promblock
