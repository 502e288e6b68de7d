#pragma once
// The XOR chunk decoding step, inline, on a state the caller owns. Hot loops
// (merging, verifying) keep the state and the bit reader in locals so that
// they live in registers; XorIterator wraps the same step for everyone else.
// Layout: tsdb/docs/format/chunks.md of Prometheus (Gorilla-style
// delta-of-delta timestamps, XOR-ed values).
#include <bit>
#include <cstdint>
#include <string>

#include "tsdb/base/encoding.h"

namespace promblock::chunkenc {

struct XorDecodeState {
  uint16_t read = 0;  // samples decoded so far
  int64_t t = 0;
  uint64_t t_delta = 0;
  uint64_t v_bits = 0;
  uint8_t leading = 0;
  uint8_t trailing = 0;
};

enum class XorStep : uint8_t { kOk, kTruncated, kBadWindow, kVarintOverflow };

// What went wrong, for an error message; `total` is the header's count.
std::string xor_step_error(XorStep step, const XorDecodeState& s, uint16_t total);

namespace detail {

// Go's binary.ReadUvarint: at most 10 bytes, the 10th at most 1.
inline XorStep read_uvarint(enc::BitReader& r, uint64_t& out) {
  uint64_t x = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    uint64_t b;
    if (!r.read_bits(8, b)) return XorStep::kTruncated;
    if (b < 0x80) {
      if (i == 9 && b > 1) break;
      out = x | b << shift;
      return XorStep::kOk;
    }
    x |= (b & 0x7f) << shift;
  }
  return XorStep::kVarintOverflow;
}

// Undoes the delta-of-delta bucket packing: one more value on the positive
// side than on the negative side, as Prometheus packs it.
inline int64_t unpack_bucket(uint64_t bits, int nbits) {
  if (bits > (uint64_t(1) << (nbits - 1))) return int64_t(bits) - (int64_t(1) << nbits);
  return int64_t(bits);
}

[[gnu::always_inline]] inline XorStep read_value(XorDecodeState& s, enc::BitReader& r) {
  bool changed, new_window = false;
  uint64_t window = 0;  // 5 bits of leading zeros, 6 of significant bits
  if (r.available(13) >= 13) {
    // Both control bits and a new window are buffered: no per-bit checks.
    uint64_t control = r.peek(2);
    changed = control >= 2;
    new_window = control == 3;
    r.skip(changed ? 2 : 1);
    if (new_window) {
      window = r.peek(11);
      r.skip(11);
    }
  } else {
    if (!r.read_bit(changed)) return XorStep::kTruncated;
    if (changed) {
      if (!r.read_bit(new_window)) return XorStep::kTruncated;
      if (new_window && !r.read_bits(11, window)) return XorStep::kTruncated;
    }
  }
  if (changed) {
    if (new_window) {
      uint64_t leading = window >> 6, significant = window & 0x3f;
      if (significant == 0) significant = 64;  // 64 does not fit 6 bits
      if (leading + significant > 64) return XorStep::kBadWindow;
      s.leading = uint8_t(leading);
      s.trailing = uint8_t(64 - leading - significant);
    }
    uint64_t bits;
    if (!r.read_bits(64 - s.leading - s.trailing, bits)) return XorStep::kTruncated;
    s.v_bits ^= bits << s.trailing;
  }
  ++s.read;
  return XorStep::kOk;
}

}  // namespace detail

// Decodes sample number s.read (the caller stops at the header's count).
// Never reads outside the reader's bytes.
[[gnu::always_inline]] inline XorStep xor_read_sample(XorDecodeState& s, enc::BitReader& r) {
  if (s.read == 0) [[unlikely]] {
    uint64_t u;
    if (auto st = detail::read_uvarint(r, u); st != XorStep::kOk) return st;
    s.t = int64_t(u >> 1);
    if (u & 1) s.t = ~s.t;
    if (!r.read_bits(64, s.v_bits)) return XorStep::kTruncated;
    ++s.read;
    return XorStep::kOk;
  }
  if (s.read == 1) [[unlikely]] {
    if (auto st = detail::read_uvarint(r, s.t_delta); st != XorStep::kOk) return st;
    s.t = int64_t(uint64_t(s.t) + s.t_delta);
    return detail::read_value(s, r);
  }
  static constexpr int kBucketBits[] = {0, 14, 17, 20, 64};
  int64_t dod = 0;
  if (r.available(24) >= 24) {
    // The prefix (up to four 1-bits ended by a 0-bit) and a payload of up
    // to 20 bits are buffered: read them without a loop.
    int ones = std::countl_one(r.peek(4) << 60);
    if (ones < 4) [[likely]] {
      // Buckets 0-3 without branching on which: jittered scrapes switch
      // between them unpredictably. Bucket 0 reads a 0-bit payload.
      static constexpr uint64_t kHalf[] = {~uint64_t(0), 1 << 13, 1 << 16, 1 << 19};
      int nbits = kBucketBits[ones];
      r.skip(ones + 1);
      uint64_t bits = r.peek(nbits);
      r.skip(nbits);
      dod = int64_t(bits) - (bits > kHalf[ones] ? int64_t(1) << nbits : 0);
    } else {
      r.skip(4);
      uint64_t bits;
      if (!r.read_bits(64, bits)) return XorStep::kTruncated;
      dod = int64_t(bits);
    }
  } else {
    int ones = 0;
    for (; ones < 4; ++ones) {
      bool bit;
      if (!r.read_bit(bit)) return XorStep::kTruncated;
      if (!bit) break;
    }
    if (ones > 0) {
      int nbits = kBucketBits[ones];
      uint64_t bits;
      if (!r.read_bits(nbits, bits)) return XorStep::kTruncated;
      dod = nbits == 64 ? int64_t(bits) : detail::unpack_bucket(bits, nbits);
    }
  }
  // Unsigned arithmetic: deltas wrap as Go's do, without UB.
  s.t_delta += uint64_t(dod);
  s.t = int64_t(uint64_t(s.t) + s.t_delta);
  return detail::read_value(s, r);
}

}  // namespace promblock::chunkenc
