#include "tsdb/chunkenc/varbit.h"

namespace promblock::chunkenc {

namespace {

// Payload bits after a prefix of `ones` 1-bits (0 to 8).
constexpr int kPayloadBits[] = {0, 3, 6, 9, 12, 18, 25, 56, 64};

bool read_prefix(enc::BitReader& r, int& ones) {
  for (ones = 0; ones < 8; ++ones) {
    bool bit;
    if (!r.read_bit(bit)) return false;
    if (!bit) break;
  }
  return true;
}

// The prefix for a payload of kPayloadBits[ones]: `ones` 1-bits, then a
// 0-bit unless all eight are ones.
void write_prefix(enc::BitWriter& w, int ones) {
  if (ones < 8)
    w.write_bits((uint64_t(1) << (ones + 1)) - 2, ones + 1);
  else
    w.write_bits(0xff, 8);
}

}  // namespace

void write_varbit_int(enc::BitWriter& w, int64_t v) {
  int ones = 0;
  if (v != 0) {
    // The lopsided ranges: [-(2^(n-1) - 1), 2^(n-1)] for n payload bits.
    for (ones = 1; ones < 8; ++ones) {
      int64_t half = int64_t(1) << (kPayloadBits[ones] - 1);
      if (-(half - 1) <= v && v <= half) break;
    }
  }
  write_prefix(w, ones);
  if (ones > 0) w.write_bits(uint64_t(v), kPayloadBits[ones]);
}

void write_varbit_uint(enc::BitWriter& w, uint64_t v) {
  int ones = 0;
  if (v != 0)
    for (ones = 1; ones < 8 && v >> kPayloadBits[ones] != 0; ++ones) {
    }
  write_prefix(w, ones);
  if (ones > 0) w.write_bits(v, kPayloadBits[ones]);
}

bool read_varbit_int(enc::BitReader& r, int64_t& out) {
  int ones;
  if (!read_prefix(r, ones)) return false;
  int nbits = kPayloadBits[ones];
  uint64_t bits = 0;
  if (nbits > 0 && !r.read_bits(nbits, bits)) return false;
  if (nbits > 0 && nbits < 64 && bits > (uint64_t(1) << (nbits - 1)))
    bits -= uint64_t(1) << nbits;  // negative: one less on that side, as Go packs it
  out = int64_t(bits);
  return true;
}

bool read_varbit_uint(enc::BitReader& r, uint64_t& out) {
  int ones;
  if (!read_prefix(r, ones)) return false;
  int nbits = kPayloadBits[ones];
  out = 0;
  return nbits == 0 || r.read_bits(nbits, out);
}

}  // namespace promblock::chunkenc
