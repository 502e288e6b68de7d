#pragma once
// Pieces of error messages that show bytes from a file: kept in one place
// so that every reader quotes and prints them the same way.
#include <cstdint>
#include <string>
#include <string_view>

namespace promblock {

// `s` in double quotes, anything unprintable escaped as \xNN and cut after
// 200 bytes, so that the message stays one short line whatever the bytes.
std::string quote_for_message(std::string_view s);

// v as 0x followed by 8 hex digits (CRCs, magic numbers).
std::string hex32(uint32_t v);

// v as 0x and its hex digits, no padding (chunk refs).
std::string hex64(uint64_t v);

}  // namespace promblock
