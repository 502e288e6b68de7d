#include "tsdb/base/ulid.h"

#include <chrono>
#include <random>

namespace promblock {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int decode_char(char c) {
  for (int i = 0; i < 32; ++i)
    if (kAlphabet[i] == c) return i;
  return -1;
}
}  // namespace

std::string new_ulid(int64_t unix_ms) {
  if (unix_ms < 0)
    unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  // 128 bits: 48 time + 80 random; encoded as 26 x 5 bits (130 bits, top 2 zero).
  std::random_device rd;
  uint8_t bytes[16];
  uint64_t t = uint64_t(unix_ms);
  for (int i = 0; i < 6; ++i) bytes[i] = uint8_t(t >> (40 - 8 * i));
  for (int i = 6; i < 16; ++i) bytes[i] = uint8_t(rd());
  std::string out(26, '0');
  // Walk the 130-bit big-endian value 5 bits at a time.
  for (int c = 0; c < 26; ++c) {
    int bit = c * 5 - 2;  // position of this char's top bit within the 128 bits
    int v = 0;
    for (int k = 0; k < 5; ++k, ++bit) {
      v <<= 1;
      if (bit >= 0) v |= (bytes[bit / 8] >> (7 - bit % 8)) & 1;
    }
    out[c] = kAlphabet[v];
  }
  return out;
}

bool is_ulid(std::string_view s) {
  if (s.size() != 26 || s[0] > '7') return false;
  for (char c : s)
    if (decode_char(c) < 0) return false;
  return true;
}

int64_t ulid_time_ms(std::string_view ulid) {
  // The first 10 chars hold 50 bits, of which the low 48 are the time.
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) v = v << 5 | uint64_t(decode_char(ulid[i]));
  return int64_t(v & ((uint64_t(1) << 48) - 1));
}

}  // namespace promblock
