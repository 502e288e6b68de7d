#include "tsdb/base/message_format.h"

#include <cstdio>

namespace promblock {

std::string quote_for_message(std::string_view s) {
  constexpr size_t kMaxShown = 200;
  std::string out = "\"";
  for (unsigned char c : s.substr(0, kMaxShown)) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);
    }
  }
  if (s.size() > kMaxShown) out += "...";
  return out + "\"";
}

std::string hex32(uint32_t v) {
  char b[11];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace promblock
