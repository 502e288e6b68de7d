#include "tsdb/base/encoding.h"

#include <array>
#include <bit>
#include <cstring>

namespace promblock::enc {

namespace {

constexpr uint32_t kCastagnoliPoly = 0x82F63B78;  // reversed polynomial

struct Crc32cTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoliPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};
constexpr Crc32cTables kTables;

uint32_t crc32c_soft(const uint8_t* p, size_t n, uint32_t crc) {
  const auto& t = kTables.t;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian hosts only, as the hardware path
    w ^= crc;
    crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
          t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    p += 8, n -= 8;
  }
  while (n--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The state after `len` zero bytes from state c, which is linear in c:
// four table lookups, one per byte of c, for a fixed len.
struct ZeroShift {
  std::array<std::array<uint32_t, 256>, 4> t{};
  explicit constexpr ZeroShift(size_t len) {
    std::array<uint32_t, 32> bit{};  // the shift of each single-bit state
    for (int b = 0; b < 32; ++b) {
      uint32_t c = uint32_t(1) << b;
      for (size_t i = 0; i < len; ++i) c = kTables.t[0][c & 0xff] ^ (c >> 8);
      bit[b] = c;
    }
    for (int k = 0; k < 4; ++k)
      for (uint32_t v = 1; v < 256; ++v)
        t[k][v] = t[k][v & (v - 1)] ^ bit[8 * k + std::countr_zero(v)];
  }
  uint32_t operator()(uint64_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][(c >> 24) & 0xff];
  }
};

// The crc32 instruction takes 3 cycles and can start every cycle: three
// lanes of a block at once, joined by shifting the earlier lanes' states
// past the later lanes' bytes (CRC(s, A B) = shift(CRC(s, A), |B|) ^
// CRC(0, B)), run twice as fast as one lane on chunk-sized data.
constexpr size_t kLane = 64;
constexpr ZeroShift kShiftLane(kLane), kShiftTwoLanes(2 * kLane);

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = crc;
  auto load = [](const uint8_t* q) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    return w;
  };
  while (n >= 3 * kLane) {
    uint64_t c0 = c, c1 = 0, c2 = 0;
    for (size_t i = 0; i < kLane; i += 8) {
      c0 = __builtin_ia32_crc32di(c0, load(p + i));
      c1 = __builtin_ia32_crc32di(c1, load(p + kLane + i));
      c2 = __builtin_ia32_crc32di(c2, load(p + 2 * kLane + i));
    }
    c = kShiftTwoLanes(c0) ^ kShiftLane(c1) ^ c2;
    p += 3 * kLane, n -= 3 * kLane;
  }
  while (n >= 8) {
    c = __builtin_ia32_crc32di(c, load(p));
    p += 8, n -= 8;
  }
  uint32_t c32 = uint32_t(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) {
  crc = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~crc32c_hw(data.data(), data.size(), crc);
#endif
  return ~crc32c_soft(data.data(), data.size(), crc);
}

uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc) {
  return ~crc32c_soft(data.data(), data.size(), ~crc);
}

// ---- Encbuf ----
void Encbuf::put_be16(uint16_t v) {
  buf_.push_back(uint8_t(v >> 8));
  buf_.push_back(uint8_t(v));
}
void Encbuf::put_be32(uint32_t v) {
  uint8_t b[4];
  store_be32(b, v);
  buf_.insert(buf_.end(), b, b + 4);
}
void Encbuf::put_be64(uint64_t v) {
  put_be32(uint32_t(v >> 32));
  put_be32(uint32_t(v));
}

void Encbuf::put_uvarint(uint64_t v) { end_room(write_uvarint(room(kMaxVarintBytes), v)); }
void Encbuf::put_varint(int64_t v) { end_room(write_varint(room(kMaxVarintBytes), v)); }

// ---- Decbuf ----
uint8_t Decbuf::byte() {
  if (p_ >= end_) return set_err("unexpected end of data"), 0;
  return *p_++;
}
template <class T, T (*Load)(const uint8_t*)>
T Decbuf::fixed() {
  if (remaining() < sizeof(T)) return set_err("unexpected end of data"), T(0);
  T v = Load(p_);
  p_ += sizeof(T);
  return v;
}
uint16_t Decbuf::be16() { return fixed<uint16_t, load_be16>(); }
uint32_t Decbuf::be32() { return fixed<uint32_t, load_be32>(); }
uint64_t Decbuf::be64() { return fixed<uint64_t, load_be64>(); }
uint64_t Decbuf::uvarint_checked() {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p_ >= end_) return set_err("unexpected end of data in varint"), 0;
    uint8_t b = *p_++;
    if (shift == 63 && b > 1) return set_err("varint overflows 64 bits"), 0;
    x |= uint64_t(b & 0x7f) << shift;
    if (b < 0x80) return x;
  }
  return set_err("varint overflows 64 bits"), 0;
}
uint32_t Decbuf::uvarint32() {
  uint64_t v = uvarint();
  if (v > 0xffffffffu) return set_err("value does not fit in 32 bits"), 0;
  return uint32_t(v);
}
std::span<const uint8_t> Decbuf::bytes(size_t n) {
  if (remaining() < n) return set_err("unexpected end of data"), std::span<const uint8_t>();
  std::span<const uint8_t> s(p_, n);
  p_ += n;
  return s;
}
std::string_view Decbuf::uvarint_str() {
  uint64_t n = uvarint();
  auto b = bytes(size_t(n));
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// ---- BitWriter ----
// ---- BitReader ----
void BitReader::refill_tail() {
  while (valid_ <= 56 && p_ < end_) {
    window_ |= uint64_t(*p_++) << (56 - valid_);
    valid_ += 8;
  }
}
bool BitReader::read_bits_split(int nbits, uint64_t& out) {
  if (size_t(nbits) > bits_left()) return false;
  uint64_t hi = 0, lo = 0;
  read_bits(nbits - 32, hi);
  read_bits(32, lo);
  out = hi << 32 | lo;
  return true;
}

}  // namespace promblock::enc
