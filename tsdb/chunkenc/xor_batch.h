#pragma once
// Whole-chunk XOR decoding and encoding for the merge, whose loops touch
// every sample of every overlapping chunk. Both keep all state in locals
// (XorEncoder and XorIterator keep theirs in members, which every byte
// store through the buffer forces back to memory) and read or write the
// bit stream a word at a time at a bit position:
// - the decoder works on a copy of the chunk followed by zero padding, so
//   no read needs a bounds check; it checks once per sample that it has not
//   run past the real bytes, and on any fault returns false for the caller
//   to ask the checked XorIterator for the exact error;
// - the encoder writes into a buffer sized for the worst case.
// The bytes and samples are those of XorEncoder and XorIterator exactly
// (tests/chunkenc_xor_batch_test.cpp compares them).
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "tsdb/base/encoding.h"

namespace promblock::chunkenc {

namespace batch_detail {

inline constexpr size_t kPadding = 32;  // > the bytes one sample can read past its start

// Bits at `pos` in the top of a word; at least 57 of them are valid.
[[gnu::always_inline]] inline uint64_t peek(const uint8_t* b, uint64_t pos) {
  return enc::load_be64(b + (pos >> 3)) << (pos & 7);
}

// 1 <= n <= 64 bits at `pos`.
[[gnu::always_inline]] inline uint64_t read_n(const uint8_t* b, uint64_t pos, int n) {
  if (n <= 57) [[likely]]
    return peek(b, pos) >> (64 - n);
  uint64_t hi = peek(b, pos) >> 32;
  return hi << (n - 32) | peek(b, pos + 32) >> (96 - n);
}

// Go's binary.ReadUvarint at `pos` (whole bytes of the bit stream).
inline bool read_uvarint(const uint8_t* b, uint64_t& pos, uint64_t& out) {
  uint64_t x = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    uint64_t byte = peek(b, pos) >> 56;
    pos += 8;
    if (byte < 0x80) {
      if (i == 9 && byte > 1) return false;
      out = x | byte << shift;
      return true;
    }
    x |= (byte & 0x7f) << shift;
  }
  return false;
}

// Where the decoding of a chunk's bit stream stands after a sample.
struct XorCursor {
  uint64_t pos = 0;  // bit position of the next sample
  int64_t t = 0;
  uint64_t t_delta = 0;
  uint64_t v = 0;
  int leading = 0, trailing = 0;  // the value window
};

// The value of a sample after the first: XOR-ed with the previous one
// inside a window of leading and trailing zeros. `w` holds the bits at
// c.pos in its top (at least 13 valid). False on a window past 64 bits.
// (Picking among the three control cases by arithmetic instead of branches
// measured slower: one more load per sample costs more than the
// mispredictions.)
[[gnu::always_inline]] inline bool read_value(const uint8_t* b, uint64_t w, XorCursor& c) {
  if (!(w >> 63)) {
    c.pos += 1;  // unchanged
    return true;
  }
  if (w >> 62 & 1) {
    int lead = int(w >> 57 & 0x1f), significant = int(w >> 51 & 0x3f);
    if (significant == 0) significant = 64;  // 64 does not fit 6 bits
    if (lead + significant > 64) return false;
    c.leading = lead;
    c.trailing = 64 - lead - significant;
    c.pos += 13;
  } else {
    c.pos += 2;
  }
  int significant = 64 - c.leading - c.trailing;
  c.v ^= read_n(b, c.pos, significant) << c.trailing;
  c.pos += uint64_t(significant);
  return true;
}

// The first min(total, 2) samples of a padded stream of `limit` bits (the
// first timestamp and value whole, the second timestamp as a plain delta),
// through emit(index, t, v_bits). False on a fault.
template <class Emit>
[[gnu::always_inline]] inline bool decode_head(const uint8_t* b, uint64_t limit, uint32_t total,
                                               XorCursor& c, Emit&& emit) {
  uint64_t u;
  if (!read_uvarint(b, c.pos, u)) return false;
  c.t = int64_t(u >> 1);
  if (u & 1) c.t = ~c.t;
  c.v = read_n(b, c.pos, 64);
  c.pos += 64;
  if (c.pos > limit) return false;
  emit(0u, c.t, c.v);
  if (total == 1) return true;
  if (!read_uvarint(b, c.pos, c.t_delta)) return false;
  c.t = int64_t(uint64_t(c.t) + c.t_delta);
  if (!read_value(b, peek(b, c.pos), c) || c.pos > limit) return false;
  emit(1u, c.t, c.v);
  return true;
}

}  // namespace batch_detail

// Decodes all samples of an XOR chunk (its 2-byte header included),
// calling emit(index, t, v_bits) for each in order. `scratch` holds the
// padded copy. False when the chunk is malformed (truncated, bad window,
// varint overflow); the samples emitted by then are meaningless.
template <class Emit>
[[gnu::always_inline]] inline bool xor_decode_chunk(std::span<const uint8_t> chunk,
                                                    std::vector<uint8_t>& scratch, Emit&& emit) {
  using namespace batch_detail;
  if (chunk.size() < 2) return false;
  const uint32_t total = enc::load_be16(chunk.data());
  if (total == 0) return true;
  const size_t stream_size = chunk.size() - 2;
  if (scratch.size() < stream_size + kPadding) scratch.resize(stream_size + kPadding);
  std::memcpy(scratch.data(), chunk.data() + 2, stream_size);
  std::memset(scratch.data() + stream_size, 0, kPadding);
  const uint8_t* b = scratch.data();
  const uint64_t limit = uint64_t(stream_size) * 8;

  XorCursor c;
  if (!decode_head(b, limit, total, c, emit)) return false;

  // Per prefix of the delta-of-delta (its top 4 bits: 0, 10, 110, 1110 or
  // 1111), the prefix length and the payload bits, for the buckets past 1.
  static constexpr uint8_t kPrefixBits[16] = {1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4};
  static constexpr uint8_t kPayloadBits[16] = {0,  0,  0,  0,  0,  0,  0,  0,
                                               14, 14, 14, 14, 17, 17, 20, 64};
  for (uint32_t k = 2; k < total; ++k) {
    uint64_t w = peek(b, c.pos);
    int64_t dod;
    // Buckets 0 (dod 0) and 1 (14 bits) by branches: a predicted branch
    // lets the next reads start before this word's bits are known. Though
    // jittered scrapes mix the two unpredictably, decoding the small bench
    // case's chunks measured 4 % faster than taking every bucket's lengths
    // from the tables.
    if (!(w >> 63)) {
      dod = 0;
      c.pos += 1;
      w <<= 1;
    } else if (!(w >> 62 & 1)) {
      uint64_t bits = w >> 48 & 0x3fff;
      dod = int64_t(bits) - (bits > (1 << 13) ? int64_t(1) << 14 : 0);
      c.pos += 16;
      w <<= 16;
    } else {
      unsigned top = unsigned(w >> 60);
      int prefix = kPrefixBits[top], nbits = kPayloadBits[top];
      if (nbits < 64) [[likely]] {
        uint64_t bits = (w << prefix) >> (64 - nbits);
        uint64_t half = uint64_t(1) << (nbits - 1);
        dod = int64_t(bits) - (bits > half ? int64_t(1) << nbits : 0);
        // The value's control bits and window (13) are still in w: at most
        // 24 of its 57 valid bits went to the timestamp.
        c.pos += uint64_t(prefix + nbits);
        w <<= prefix + nbits;
      } else {
        dod = int64_t(read_n(b, c.pos + 4, 64));
        c.pos += 68;
        w = peek(b, c.pos);
      }
    }
    // Unsigned arithmetic: deltas wrap as Go's do, without UB.
    c.t_delta += uint64_t(dod);
    c.t = int64_t(uint64_t(c.t) + c.t_delta);
    bool window_ok = read_value(b, w, c);
    if (!window_ok | (c.pos > limit)) [[unlikely]]
      return false;
    emit(k, c.t, c.v);
  }
  return true;
}

// The error XorIterator reports for a malformed chunk, for messages.
std::string xor_chunk_error(std::span<const uint8_t> chunk);

// The most bytes xor_encode_chunk writes for n samples (padding included).
constexpr size_t xor_max_encoded_size(size_t n) {
  // Header, two varints, and at most 4+64 timestamp and 13+64 value bits
  // per sample, plus one word the writer stores whole.
  return 2 + 20 + n * 19 + 8;
}

namespace batch_detail {

// Writes a bit stream at `out`, which has room for the worst case. Every
// write stores a whole word and keeps only the partial byte pending: no
// branch on whether a flush is due, which with varying bit counts would be
// mispredicted every few samples.
struct BitWriter {
  uint8_t* out;
  size_t size = 0;   // whole bytes stored at out
  uint64_t acc = 0;  // the last `pending` bits written, in its low bits
  int pending = 0;   // always < 8 between writes

  // The low nbits (1 to 56) of bits, which must be clean above them.
  [[gnu::always_inline]] void put(uint64_t bits, int nbits) {
    acc = acc << nbits | bits;
    pending += nbits;
    enc::store_be64(out + size, acc << (64 - pending));
    size += size_t(pending >> 3);
    pending &= 7;
  }
  void put64(uint64_t bits) {
    put(bits >> 32, 32);
    put(bits & 0xffffffff, 32);
  }
  void put_uvarint(uint64_t x) {
    for (; x >= 0x80; x >>= 7) put(uint8_t(x) | 0x80, 8);
    put(x, 8);
  }
  // Bytes written, the partial one included.
  size_t bytes() const { return size + (pending > 0); }
};

// Where the encoding of a chunk stands after a sample.
struct XorEncodeState {
  int64_t t = 0;
  uint64_t t_delta = 0, v = 0;
  int leading = 0xff, trailing = 0;  // the value window; 0xff: none yet
};

// The value of a sample after the first, XOR-ed with the previous one.
[[gnu::always_inline]] inline void put_value(BitWriter& w, XorEncodeState& st, uint64_t v_bits) {
  uint64_t x = v_bits ^ st.v;
  if (x == 0) return w.put(0, 1);
  int lead = std::countl_zero(x), trail = std::countr_zero(x);
  if (lead >= 32) lead = 31;  // the window's leading count has only 5 bits
  if (st.leading != 0xff && lead >= st.leading && trail >= st.trailing) {
    int significant = 64 - st.leading - st.trailing;
    if (significant <= 54)
      return w.put(uint64_t(0b10) << significant | x >> st.trailing, 2 + significant);
    w.put(0b10, 2);
    return w.put(x >> st.trailing >> 32, significant - 32),
           w.put(x >> st.trailing & 0xffffffff, 32);
  }
  st.leading = lead;
  st.trailing = trail;
  int significant = 64 - lead - trail;
  uint64_t head = uint64_t(0b11) << 11 | uint64_t(lead) << 6 | uint64_t(significant & 0x3f);
  if (significant <= 43) return w.put(head << significant | x >> trail, 13 + significant);
  w.put(head, 13);
  if (significant <= 56) return w.put(x >> trail, significant);
  w.put(x >> trail >> 32, significant - 32), w.put(x >> trail & 0xffffffff, 32);
}

// The first min(n, 2) samples (n > 0): the first timestamp and value
// whole, the second timestamp as a plain delta.
template <class Sample>
[[gnu::always_inline]] inline void encode_head(const Sample* samples, size_t n, BitWriter& w,
                                               XorEncodeState& st) {
  st.t = samples[0].t;
  st.v = samples[0].v_bits;
  w.put_uvarint(st.t < 0 ? ~(uint64_t(st.t) << 1) : uint64_t(st.t) << 1);  // Go's zigzag
  w.put64(st.v);
  if (n < 2) return;
  st.t_delta = uint64_t(samples[1].t) - uint64_t(st.t);
  w.put_uvarint(st.t_delta);
  put_value(w, st, samples[1].v_bits);
  st.t = samples[1].t;
  st.v = samples[1].v_bits;
}

}  // namespace batch_detail

// Encodes samples[0..n) (each with .t and .v_bits; n <= 65535) as one XOR
// chunk into dst, which has room for xor_max_encoded_size(n) bytes; returns
// the chunk's size.
template <class Sample>
[[gnu::always_inline]] inline size_t xor_encode_chunk(const Sample* samples, size_t n,
                                                      uint8_t* dst) {
  using namespace batch_detail;
  BitWriter w{dst + 2};
  XorEncodeState st;
  if (n > 0) encode_head(samples, n, w, st);
  for (size_t k = 2; k < n; ++k) {
    uint64_t delta = uint64_t(samples[k].t) - uint64_t(st.t);
    int64_t dod = int64_t(delta - st.t_delta);
    // Buckets nest: counting the ones dod misses gives its index.
    auto fits = [](int64_t x, int nbits) {
      int64_t half = int64_t(1) << (nbits - 1);
      return -(half - 1) <= x && x <= half;
    };
    int bucket = (dod != 0) + !fits(dod, 14) + !fits(dod, 17) + !fits(dod, 20);
    if (bucket < 4) [[likely]] {
      static constexpr uint8_t kPayloadBits[] = {0, 14, 17, 20};
      static constexpr uint8_t kPrefix[] = {0b0, 0b10, 0b110, 0b1110};
      int payload = kPayloadBits[bucket];
      w.put(uint64_t(kPrefix[bucket]) << payload | (uint64_t(dod) & ((uint64_t(1) << payload) - 1)),
            bucket + 1 + payload);
    } else {
      w.put(0b1111, 4);
      w.put64(uint64_t(dod));
    }
    put_value(w, st, samples[k].v_bits);
    st.t = samples[k].t;
    st.t_delta = delta;
    st.v = samples[k].v_bits;
  }
  dst[0] = uint8_t(n >> 8);
  dst[1] = uint8_t(n);
  return 2 + w.bytes();
}

}  // namespace promblock::chunkenc
