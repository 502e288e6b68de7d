#include "tsdb/chunkenc/xor_lanes.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/xor_batch.h"

// Functions that use AVX-512 carry the target attribute instead of the
// whole build taking -mavx512*: the binary still runs on any x86-64, and
// xor_lanes_supported() decides at run time.
#define PROMBLOCK_AVX512 \
  __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx512vbmi2")))

// GCC 12's intrinsics start some results from _mm512_undefined_*(), which
// -W(maybe-)uninitialized reports wherever they are inlined.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace promblock::chunkenc {

namespace {

using batch_detail::kPadding;

#if defined(__x86_64__)

// One register's eight lanes, each decoding a chunk: where it stands in
// its stream, and the rows of the output its samples go to.
struct Lanes {
  __m512i pos;  // absolute bit position in the streams buffer
  __m512i t, t_delta, v;
  __m512i leading, trailing;
  __m512i first_row;  // the row of its sample 2, the first decoded here
  __m512i end_row;    // one past the row of its last sample (0: idle)
  __m512i end;        // absolute bit position where its stream ends
  uint32_t chunk[8];  // the chunk each lane decodes
};

PROMBLOCK_AVX512 inline __m512i byte_swap_64(__m512i x) {
  // vpshufb picks bytes within each 128-bit quarter: reverse each half.
  const __m512i order = _mm512_set4_epi32(0x08090a0b, 0x0c0d0e0f, 0x00010203, 0x04050607);
  return _mm512_shuffle_epi8(x, order);
}

// Loads the 128 bits at each lane's `pos` (big-endian, as the stream is
// written) into hi:lo, left-aligned: at least 121 of them valid.
[[gnu::always_inline]] PROMBLOCK_AVX512 inline void load_bits(const uint8_t* base, __m512i pos,
                                                              __mmask8 lanes, __m512i& hi,
                                                              __m512i& lo) {
  const __m512i byte = _mm512_srli_epi64(pos, 3);
  const __m512i a =
      byte_swap_64(_mm512_mask_i64gather_epi64(_mm512_setzero_si512(), lanes, byte, base, 1));
  const __m512i b =
      byte_swap_64(_mm512_mask_i64gather_epi64(_mm512_setzero_si512(), lanes, byte, base + 8, 1));
  const __m512i shift = _mm512_and_si512(pos, _mm512_set1_epi64(7));
  hi = _mm512_shldv_epi64(a, b, shift);
  lo = _mm512_sllv_epi64(b, shift);
}

// Lanes that finished their chunk at a step, and those of them at fault.
struct StepEnd {
  __mmask8 finished, faulty;
};

// Row k of every lane that has one: the same steps as the loop of
// xor_decode_chunk, with each branch turned into a per-lane choice.
[[gnu::always_inline]] PROMBLOCK_AVX512 inline StepEnd step(Lanes& g, uint64_t k,
                                                            const uint8_t* base, uint64_t* t_rows,
                                                            uint64_t* v_rows) {
  // By the number of leading ones of the delta-of-delta's prefix (0-4):
  // its prefix bits, 64 - payload bits, the payload's sign bit, the
  // payload's range, and the bits the timestamp takes in all.
  const __m512i prefix_bits = _mm512_set_epi64(0, 0, 0, 4, 4, 3, 2, 1);
  const __m512i payload_shift = _mm512_set_epi64(0, 0, 0, 0, 44, 47, 50, 64);
  const __m512i half = _mm512_set_epi64(-1, -1, -1, -1, 1 << 19, 1 << 16, 1 << 13, -1);
  const __m512i range = _mm512_set_epi64(0, 0, 0, 0, 1 << 20, 1 << 17, 1 << 14, 0);
  const __m512i timestamp_bits = _mm512_set_epi64(0, 0, 0, 68, 24, 20, 16, 1);
  const __m512i c64 = _mm512_set1_epi64(64);

  const __m512i row = _mm512_set1_epi64(int64_t(k));
  const __mmask8 active =
      _mm512_cmple_epu64_mask(g.first_row, row) & _mm512_cmpgt_epu64_mask(g.end_row, row);
  __m512i hi, lo;
  load_bits(base, g.pos, active, hi, lo);

  // The timestamp.
  const __m512i ones = _mm512_min_epu64(
      _mm512_lzcnt_epi64(_mm512_ternarylogic_epi64(hi, hi, hi, 0x55)), _mm512_set1_epi64(4));
  const __m512i payload =
      _mm512_srlv_epi64(_mm512_sllv_epi64(hi, _mm512_permutexvar_epi64(ones, prefix_bits)),
                        _mm512_permutexvar_epi64(ones, payload_shift));
  const __mmask8 negative = _mm512_cmpgt_epu64_mask(payload, _mm512_permutexvar_epi64(ones, half));
  __m512i dod =
      _mm512_mask_sub_epi64(payload, negative, payload, _mm512_permutexvar_epi64(ones, range));
  const __m512i t_bits = _mm512_permutexvar_epi64(ones, timestamp_bits);
  // The value's bits follow the timestamp's (at most 24 of them).
  __m512i vhi = _mm512_shldv_epi64(hi, lo, t_bits), vlo = _mm512_sllv_epi64(lo, t_bits);
  const __mmask8 wide = _mm512_cmpeq_epu64_mask(ones, _mm512_set1_epi64(4)) & active;
  if (wide) [[unlikely]] {
    // A 64-bit delta-of-delta: its value's bits lie past the 121 loaded.
    dod = _mm512_mask_mov_epi64(dod, wide, _mm512_shldv_epi64(hi, lo, _mm512_set1_epi64(4)));
    __m512i whi, wlo;
    load_bits(base, _mm512_add_epi64(g.pos, t_bits), wide, whi, wlo);
    vhi = _mm512_mask_mov_epi64(vhi, wide, whi);
    vlo = _mm512_mask_mov_epi64(vlo, wide, wlo);
  }

  // The value: unchanged (0), in the last window (10), in a new one (11).
  const __mmask8 changed = _mm512_movepi64_mask(vhi);
  const __mmask8 new_window =
      _mm512_cmpeq_epu64_mask(_mm512_srli_epi64(vhi, 62), _mm512_set1_epi64(3));
  const __m512i leading = _mm512_and_si512(_mm512_srli_epi64(vhi, 57), _mm512_set1_epi64(31));
  __m512i significant = _mm512_and_si512(_mm512_srli_epi64(vhi, 51), _mm512_set1_epi64(63));
  significant =
      _mm512_mask_mov_epi64(significant, _mm512_testn_epi64_mask(significant, significant),
                            c64);  // 64 does not fit 6 bits
  const __mmask8 bad_window =
      new_window & _mm512_cmpgt_epu64_mask(_mm512_add_epi64(leading, significant), c64);
  g.leading = _mm512_mask_mov_epi64(g.leading, new_window, leading);
  g.trailing = _mm512_mask_mov_epi64(g.trailing, new_window,
                                     _mm512_sub_epi64(_mm512_sub_epi64(c64, leading), significant));
  significant = _mm512_sub_epi64(_mm512_sub_epi64(c64, g.leading), g.trailing);
  const __m512i control_bits = _mm512_mask_mov_epi64(
      _mm512_mask_mov_epi64(_mm512_set1_epi64(1), changed, _mm512_set1_epi64(2)), new_window,
      _mm512_set1_epi64(13));
  const __m512i bits = _mm512_srlv_epi64(_mm512_shldv_epi64(vhi, vlo, control_bits),
                                         _mm512_sub_epi64(c64, significant));
  g.v = _mm512_mask_xor_epi64(g.v, changed, g.v, _mm512_sllv_epi64(bits, g.trailing));

  const __m512i advance = _mm512_add_epi64(_mm512_add_epi64(t_bits, control_bits),
                                           _mm512_maskz_mov_epi64(changed, significant));
  g.pos = _mm512_mask_add_epi64(g.pos, active, g.pos, advance);
  g.t_delta = _mm512_mask_add_epi64(g.t_delta, active, g.t_delta, dod);
  g.t = _mm512_mask_add_epi64(g.t, active, g.t, g.t_delta);
  // Masked: a lane that has just started a chunk holds its first two
  // samples in the next rows.
  _mm512_mask_storeu_epi64(t_rows + k * 8, active, g.t);
  _mm512_mask_storeu_epi64(v_rows + k * 8, active, g.v);
  const __mmask8 faulty = active & (bad_window | _mm512_cmpgt_epu64_mask(g.pos, g.end));
  const __mmask8 last = _mm512_cmpeq_epu64_mask(g.end_row, _mm512_set1_epi64(int64_t(k + 1)));
  return {__mmask8((active & last) | faulty), faulty};
}

// What decode_groups works on (XorLaneDecoder's members).
struct Work {
  const uint8_t* streams;
  const uint64_t* starts;  // bit position of each chunk's stream
  const uint64_t* ends;    // and of its end
  const uint32_t* totals;
  const uint32_t* order;  // the chunks of three or more samples, longest first
  size_t count;
  uint64_t rows;    // rows of each register's samples
  uint64_t* t_out;  // register 0's rows; the next register's follow
  uint64_t* v_out;
  size_t* at;  // per chunk: where its sample 0 lands in t_out and v_out
  uint8_t* ok;
};

// Decodes every chunk in kGroups registers' lanes: more chains of reads in
// flight hide each one's latency (two registers measured 1.7x one). A lane
// that finishes a chunk takes the next one at its next row, so chunks of
// different lengths leave no lane idle until the last ones.
template <int kGroups>
class LaneScheduler {
 public:
  explicit LaneScheduler(const Work& w) : w_(w) {}

  PROMBLOCK_AVX512 void run() {
    for (int gi = 0; gi < kGroups; ++gi) {
      const __m512i zero = _mm512_setzero_si512();
      groups_[gi] = {zero, zero, zero, zero, zero, zero, zero, zero, zero, {}};
      for (int j = 0; j < 8; ++j) assign(gi, j, 0);
    }
    for (uint64_t k = 2;; ++k) {
      bool busy = false;
      for (int gi = 0; gi < kGroups; ++gi) {
        Lanes& g = groups_[gi];
        const StepEnd end = step(g, k, w_.streams, t_rows(gi), v_rows(gi));
        for (unsigned m = end.finished; m; m &= m - 1) {
          const int j = std::countr_zero(m);
          if (end.faulty >> j & 1) w_.ok[g.chunk[j]] = 0;
          assign(gi, j, k + 1);
        }
        busy |= _mm512_cmpgt_epu64_mask(g.end_row, _mm512_set1_epi64(int64_t(k + 1))) != 0;
      }
      if (!busy) break;
    }
  }

 private:
  uint64_t* t_rows(int gi) const { return w_.t_out + size_t(gi) * w_.rows * 8; }
  uint64_t* v_rows(int gi) const { return w_.v_out + size_t(gi) * w_.rows * 8; }

  // Starts lane j of register gi on the next chunk at `row`: its first two
  // samples here, the rest in the lane (every chunk here has three or
  // more). One at fault in its first two takes no lane: the next one does.
  PROMBLOCK_AVX512 void assign(int gi, int j, uint64_t row) {
    Lanes& g = groups_[gi];
    uint64_t* t_out = t_rows(gi);
    uint64_t* v_out = v_rows(gi);
    const __mmask8 lane = __mmask8(1u << j);
    while (next_ < w_.count) {
      const uint32_t c = w_.order[next_++];
      batch_detail::XorCursor cursor;
      w_.at[c] = size_t(gi) * w_.rows * 8 + row * 8 + size_t(j);
      w_.ok[c] =
          batch_detail::decode_head(w_.streams + w_.starts[c] / 8, w_.ends[c] - w_.starts[c],
                                    w_.totals[c], cursor, [&](uint32_t k, int64_t t, uint64_t v) {
                                      t_out[(row + k) * 8 + size_t(j)] = uint64_t(t);
                                      v_out[(row + k) * 8 + size_t(j)] = v;
                                    });
      if (!w_.ok[c]) continue;  // the next chunk takes the lane
      g.pos = _mm512_mask_set1_epi64(g.pos, lane, int64_t(w_.starts[c] + cursor.pos));
      g.t = _mm512_mask_set1_epi64(g.t, lane, cursor.t);
      g.t_delta = _mm512_mask_set1_epi64(g.t_delta, lane, int64_t(cursor.t_delta));
      g.v = _mm512_mask_set1_epi64(g.v, lane, int64_t(cursor.v));
      g.leading = _mm512_mask_set1_epi64(g.leading, lane, cursor.leading);
      g.trailing = _mm512_mask_set1_epi64(g.trailing, lane, cursor.trailing);
      g.first_row = _mm512_mask_set1_epi64(g.first_row, lane, int64_t(row + 2));
      g.end_row = _mm512_mask_set1_epi64(g.end_row, lane, int64_t(row + w_.totals[c]));
      g.end = _mm512_mask_set1_epi64(g.end, lane, int64_t(w_.ends[c]));
      g.chunk[j] = c;
      return;
    }
    // Nothing left: idle.
    g.first_row = _mm512_mask_set1_epi64(g.first_row, lane, 0);
    g.end_row = _mm512_mask_set1_epi64(g.end_row, lane, 0);
  }

  const Work& w_;
  Lanes groups_[kGroups];
  size_t next_ = 0;  // in w_.order
};

// Decodes every chunk in kGroups registers' lanes: more chains of reads in
// flight hide each one's latency (two registers measured 1.7x one). A lane
// that finishes a chunk takes the next one at its next row, so chunks of
// different lengths leave no lane idle until the last ones.
template <int kGroups>
PROMBLOCK_AVX512 void decode_groups(const Work& w) {
  LaneScheduler<kGroups>(w).run();
}

// Eight chunks being encoded, one per lane.
struct EncodeLanes {
  __m512i next;     // address of the next sample
  __m512i out;      // address where the next bytes go
  __m512i partial;  // the partial byte there, in the top bits
  __m512i pending;  // its bits (0-7)
  __m512i t, t_delta, v;
  __m512i leading, trailing;  // the value window; leading 0xff: none yet
  __m512i stride;             // bytes from one sample to the next
};

// Appends, to each lane in `lanes`, the n bits (at most 120) left-aligned
// in hi:lo, zero below them: 16 bytes stored at the lane's `out`, from its
// partial byte on.
[[gnu::always_inline]] PROMBLOCK_AVX512 inline void append_bits(EncodeLanes& g, __mmask8 lanes,
                                                                __m512i hi, __m512i lo, __m512i n) {
  const __m512i c64 = _mm512_set1_epi64(64);
  const __m512i first = _mm512_or_si512(g.partial, _mm512_srlv_epi64(hi, g.pending));
  const __m512i second = _mm512_or_si512(_mm512_sllv_epi64(hi, _mm512_sub_epi64(c64, g.pending)),
                                         _mm512_srlv_epi64(lo, g.pending));
  // Lane by lane, 16 bytes each (a scatter measured slower): the lanes'
  // two words side by side, four lanes to a register, each stored
  // straight from its quarter, its address loaded from memory (extracting
  // both from registers took most of the shuffle port).
  const __m512i a = byte_swap_64(first), b = byte_swap_64(second);
  const __m512i low4 = _mm512_permutex2var_epi64(a, _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), b);
  const __m512i high4 =
      _mm512_permutex2var_epi64(a, _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4), b);
  alignas(64) uint64_t out[8];
  _mm512_store_si512(out, g.out);
  auto store = [&](int j) PROMBLOCK_AVX512 {
    const __m512i four = j < 4 ? low4 : high4;
    __m128i pair;
    switch (j & 3) {
      case 0:
        pair = _mm512_castsi512_si128(four);
        break;
      case 1:
        pair = _mm512_extracti64x2_epi64(four, 1);
        break;
      case 2:
        pair = _mm512_extracti64x2_epi64(four, 2);
        break;
      default:
        pair = _mm512_extracti64x2_epi64(four, 3);
        break;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[j]), pair);
  };
  if (lanes == 0xff) {
    store(0), store(1), store(2), store(3), store(4), store(5), store(6), store(7);
  } else {
    for (int j = 0; j < 8; ++j)
      if (lanes >> j & 1) store(j);
  }
  // The byte the lane's bits end in becomes its partial byte.
  const __m512i bits = _mm512_add_epi64(g.pending, n);
  const __m512i whole = _mm512_srli_epi64(bits, 3);
  const __m512i skip = _mm512_slli_epi64(whole, 3);
  const __m512i top = _mm512_mask_mov_epi64(_mm512_shldv_epi64(first, second, skip),
                                            _mm512_cmpge_epu64_mask(skip, c64),
                                            _mm512_sllv_epi64(second, _mm512_sub_epi64(skip, c64)));
  g.partial = _mm512_mask_and_epi64(g.partial, lanes, top,
                                    _mm512_set1_epi64(int64_t(0xff00000000000000ull)));
  g.out = _mm512_mask_add_epi64(g.out, lanes, g.out, whole);
  g.pending = _mm512_mask_and_epi64(g.pending, lanes, bits, _mm512_set1_epi64(7));
}

// Sample k of every lane that has one: the same choices as the loop of
// xor_encode_chunk and put_value, each made per lane.
[[gnu::always_inline]] PROMBLOCK_AVX512 inline void encode_step(EncodeLanes& g, __mmask8 lanes) {
  const __m512i c64 = _mm512_set1_epi64(64);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i t = _mm512_mask_i64gather_epi64(zero, lanes, g.next, nullptr, 1);
  const __m512i v = _mm512_mask_i64gather_epi64(zero, lanes, g.next, (const void*)8, 1);
  g.next = _mm512_add_epi64(g.next, g.stride);

  // The timestamp's delta-of-delta, in the smallest bucket it fits:
  // -(2^(b-1) - 1) <= dod <= 2^(b-1), i.e. dod + 2^(b-1) - 1 < 2^b unsigned.
  const __m512i delta = _mm512_sub_epi64(t, g.t);
  const __m512i dod = _mm512_sub_epi64(delta, g.t_delta);
  auto fits = [&](int b) PROMBLOCK_AVX512 {
    return _mm512_cmplt_epu64_mask(
        _mm512_add_epi64(dod, _mm512_set1_epi64((int64_t(1) << (b - 1)) - 1)),
        _mm512_set1_epi64(int64_t(1) << b));
  };
  const __mmask8 fits_20 = fits(20), fits_17 = fits(17), fits_14 = fits(14);
  const __mmask8 is_zero = _mm512_testn_epi64_mask(dod, dod);
  // Its bucket (0: zero ... 4: 64 bits; each fits the wider ones too) picks
  // its bit count, prefix and payload width from one table: a permute,
  // where choosing each of the three per bucket broadcast twelve constants.
  const __m512i one = _mm512_set1_epi64(1);
  __m512i bucket = _mm512_set1_epi64(4);
  bucket = _mm512_mask_sub_epi64(bucket, fits_20, bucket, one);
  bucket = _mm512_mask_sub_epi64(bucket, fits_17, bucket, one);
  bucket = _mm512_mask_sub_epi64(bucket, fits_14, bucket, one);
  bucket = _mm512_mask_sub_epi64(bucket, is_zero, bucket, one);
  // bits | prefix << 8 | payload bits << 16, by bucket.
  const __m512i table = _mm512_set_epi64(0, 0, 0, 68 | 0b1111 << 8, 24 | 0b1110 << 8 | 20 << 16,
                                         20 | 0b110 << 8 | 17 << 16, 16 | 0b10 << 8 | 14 << 16, 1);
  const __m512i packed = _mm512_permutexvar_epi64(bucket, table);
  const __m512i byte = _mm512_set1_epi64(0xff);
  __m512i t_bits = _mm512_and_si512(packed, byte);
  const __m512i prefix = _mm512_and_si512(_mm512_srli_epi64(packed, 8), byte);
  const __m512i payload = _mm512_srli_epi64(packed, 16);
  const __m512i payload_mask =
      _mm512_sub_epi64(_mm512_sllv_epi64(_mm512_set1_epi64(1), payload), _mm512_set1_epi64(1));
  __m512i t_field = _mm512_sllv_epi64(
      _mm512_or_si512(_mm512_sllv_epi64(prefix, payload), _mm512_and_si512(dod, payload_mask)),
      _mm512_sub_epi64(c64, t_bits));
  const __mmask8 wide = lanes & ~(fits_20 | is_zero);
  if (wide) [[unlikely]] {
    // 1111 and 64 bits: appended on their own, the value after them.
    append_bits(g, wide,
                _mm512_or_si512(_mm512_set1_epi64(int64_t(0xf000000000000000ull)),
                                _mm512_srli_epi64(dod, 4)),
                _mm512_slli_epi64(dod, 60), _mm512_set1_epi64(68));
    t_field = _mm512_mask_mov_epi64(t_field, wide, zero);
    t_bits = _mm512_mask_mov_epi64(t_bits, wide, zero);
  }

  // The value: unchanged (0), in the last window (10 and its bits), or in
  // a new one (11, 5 bits of leading zeros, 6 of length, its bits).
  const __m512i x = _mm512_xor_si512(v, g.v);
  const __mmask8 changed = _mm512_test_epi64_mask(x, x);
  const __m512i leading = _mm512_min_epu64(_mm512_lzcnt_epi64(x), _mm512_set1_epi64(31));
  const __m512i trailing = _mm512_sub_epi64(
      _mm512_set1_epi64(63), _mm512_lzcnt_epi64(_mm512_and_si512(x, _mm512_sub_epi64(zero, x))));
  const __mmask8 same_window = changed & _mm512_cmple_epu64_mask(g.leading, leading) &
                               _mm512_cmple_epu64_mask(g.trailing, trailing);
  const __mmask8 new_window = changed & ~same_window;
  g.leading = _mm512_mask_mov_epi64(g.leading, new_window, leading);
  g.trailing = _mm512_mask_mov_epi64(g.trailing, new_window, trailing);
  const __m512i significant =
      _mm512_maskz_sub_epi64(changed, _mm512_sub_epi64(c64, g.leading), g.trailing);
  const __m512i control_bits = _mm512_mask_mov_epi64(
      _mm512_mask_mov_epi64(_mm512_set1_epi64(1), same_window, _mm512_set1_epi64(2)), new_window,
      _mm512_set1_epi64(13));
  __m512i control = _mm512_maskz_mov_epi64(same_window, _mm512_set1_epi64(0b10));
  control = _mm512_mask_mov_epi64(
      control, new_window,
      _mm512_or_si512(
          _mm512_or_si512(_mm512_set1_epi64(0b11 << 11), _mm512_slli_epi64(g.leading, 6)),
          _mm512_and_si512(significant, _mm512_set1_epi64(63))));
  // The window's bits, left-aligned (x is 0 where unchanged).
  const __m512i window = _mm512_maskz_mov_epi64(changed, _mm512_sllv_epi64(x, g.leading));
  const __m512i v_hi =
      _mm512_or_si512(_mm512_sllv_epi64(control, _mm512_sub_epi64(c64, control_bits)),
                      _mm512_srlv_epi64(window, control_bits));
  const __m512i v_lo = _mm512_sllv_epi64(window, _mm512_sub_epi64(c64, control_bits));

  // Timestamp then value: at most 24 + 77 bits.
  const __m512i hi = _mm512_or_si512(t_field, _mm512_srlv_epi64(v_hi, t_bits));
  const __m512i lo = _mm512_or_si512(_mm512_sllv_epi64(v_hi, _mm512_sub_epi64(c64, t_bits)),
                                     _mm512_srlv_epi64(v_lo, t_bits));
  append_bits(g, lanes, hi, lo,
              _mm512_add_epi64(t_bits, _mm512_add_epi64(control_bits, significant)));
  g.t = _mm512_mask_mov_epi64(g.t, lanes, t);
  g.t_delta = _mm512_mask_mov_epi64(g.t_delta, lanes, delta);
  g.v = _mm512_mask_mov_epi64(g.v, lanes, v);
}

PROMBLOCK_AVX512 void encode_lanes(std::span<XorLaneEncoder::Chunk> chunks) {
  alignas(64) uint64_t next[8] = {}, out[8] = {}, partial[8] = {}, pending[8] = {}, t[8] = {},
                       t_delta[8] = {}, v[8] = {}, leading[8] = {}, trailing[8] = {}, n[8] = {},
                       strides[8] = {};
  uint32_t longest = 0;
  for (size_t j = 0; j < chunks.size(); ++j) {
    const XorLaneEncoder::Chunk& c = chunks[j];
    // The first two samples one by one (xor_batch.h).
    struct Sample {
      int64_t t;
      uint64_t v_bits;
    } head[2];
    const auto* bytes = static_cast<const uint8_t*>(c.samples);
    const size_t stride = c.stride;
    strides[j] = stride;
    std::memcpy(&head[0], bytes, sizeof(Sample));
    if (c.n > 1) std::memcpy(&head[1], bytes + stride, sizeof(Sample));
    batch_detail::BitWriter w{c.dst + 2};
    batch_detail::XorEncodeState st;
    batch_detail::encode_head(head, c.n, w, st);
    next[j] = uint64_t(bytes + 2 * stride);
    out[j] = uint64_t(c.dst + 2 + w.size);
    // The writer holds its pending bits in the low bits of acc.
    partial[j] = w.pending ? w.acc << (64 - w.pending) & 0xff00000000000000ull : 0;
    pending[j] = uint64_t(w.pending);
    t[j] = uint64_t(st.t);
    t_delta[j] = st.t_delta;
    v[j] = st.v;
    leading[j] = uint64_t(st.leading);
    trailing[j] = uint64_t(st.trailing);
    n[j] = c.n;
    longest = std::max(longest, c.n);
  }
  EncodeLanes g{_mm512_load_si512(next),    _mm512_load_si512(out),     _mm512_load_si512(partial),
                _mm512_load_si512(pending), _mm512_load_si512(t),       _mm512_load_si512(t_delta),
                _mm512_load_si512(v),       _mm512_load_si512(leading), _mm512_load_si512(trailing),
                _mm512_load_si512(strides)};
  const __m512i samples = _mm512_load_si512(n);
  for (uint32_t k = 2; k < longest; ++k)
    encode_step(g, _mm512_cmpgt_epu64_mask(samples, _mm512_set1_epi64(k)));
  _mm512_store_si512(out, g.out);
  _mm512_store_si512(pending, g.pending);
  for (size_t j = 0; j < chunks.size(); ++j) {
    XorLaneEncoder::Chunk& c = chunks[j];
    // The partial byte is stored already (with the last 16 bytes).
    c.size = size_t(reinterpret_cast<uint8_t*>(out[j]) - c.dst) + (pending[j] > 0);
    c.dst[0] = uint8_t(c.n >> 8);
    c.dst[1] = uint8_t(c.n);
  }
}

#endif  // __x86_64__

bool cpu_has_avx512() {
#if !defined(__x86_64__)
  return false;
#else
  if (const char* off = std::getenv("PROMBLOCK_NO_AVX512");
      off && std::string_view(off) != "" && std::string_view(off) != "0")
    return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi2");
#endif
}

}  // namespace

bool xor_lanes_supported() {
  static const bool yes = cpu_has_avx512();
  return yes;
}

void XorLaneDecoder::clear() {
  chunks_.clear();
  totals_.clear();
  samples_ = 0;
}

int XorLaneDecoder::add(std::span<const uint8_t> chunk) {
  if (!xor_lanes_supported() || chunk.size() < 2) return -1;
  const uint32_t total = enc::load_be16(chunk.data());
  if (total == 0 || total > kMaxSamples) return -1;
  chunks_.push_back(chunk);
  totals_.push_back(total);
  samples_ += total;
  return int(totals_.size() - 1);
}

void XorLaneDecoder::decode() {
  const size_t count = totals_.size();
  ok_.assign(count, 0);
  if (count == 0) return;
  size_t bytes = 0;
  for (const auto& c : chunks_) bytes += c.size() - 2 + kPadding;
  streams_.resize(bytes);
  starts_.resize(count);
  ends_.resize(count);
  size_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t size = chunks_[i].size() - 2;
    std::memcpy(streams_.data() + offset, chunks_[i].data() + 2, size);
    std::memset(streams_.data() + offset + size, 0, kPadding);
    starts_[i] = uint64_t(offset) * 8;
    ends_[i] = uint64_t(offset + size) * 8;
    offset += size + kPadding;
  }
  // Chunks of one or two samples need no lane (the first two samples are
  // decoded one by one anyway): each gets a column of two rows after the
  // lanes' rows. The rest go to the lanes longest first, so that the last
  // chunks to start are short and the lanes finish close together.
  order_.clear();
  std::vector<uint32_t>& short_chunks = short_;
  short_chunks.clear();
  uint64_t samples = 0;
  uint32_t longest = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (totals_[i] <= 2) {
      short_chunks.push_back(i);
      continue;
    }
    order_.push_back(i);
    samples += totals_[i];
    longest = std::max(longest, totals_[i]);
  }
  std::stable_sort(order_.begin(), order_.end(),
                   [&](uint32_t a, uint32_t b) { return totals_[a] > totals_[b]; });
  const size_t groups = std::min(kMaxRegisters, (order_.size() + kGroup - 1) / kGroup);
  // A lane that finishes a chunk takes the next at once, so every lane is
  // busy until the last chunk starts: by row samples / lanes, and it ends
  // within `longest` rows after.
  const uint64_t rows = groups ? samples / (groups * kGroup) + longest + 1 : 0;
  const size_t short_at = groups * rows * kGroup;
  const size_t size = short_at + (short_chunks.size() + kGroup - 1) / kGroup * 2 * kGroup;
  // Grown, never shrunk: every row is written before it is read.
  if (t_.size() < size) {
    t_.resize(size);
    v_.resize(size);
  }
  at_.resize(count);
  for (size_t s = 0; s < short_chunks.size(); ++s) {
    const uint32_t c = short_chunks[s];
    at_[c] = short_at + s / kGroup * 2 * kGroup + s % kGroup;
    batch_detail::XorCursor cursor;
    ok_[c] = batch_detail::decode_head(streams_.data() + starts_[c] / 8, ends_[c] - starts_[c],
                                       totals_[c], cursor, [&](uint32_t k, int64_t t, uint64_t v) {
                                         t_[at_[c] + k * kGroup] = uint64_t(t);
                                         v_[at_[c] + k * kGroup] = v;
                                       });
  }
  if (groups == 0) return;
#if defined(__x86_64__)
  Work w{streams_.data(), starts_.data(), ends_.data(), totals_.data(),
         order_.data(),   order_.size(),  rows,         t_.data(),
         v_.data(),       at_.data(),     ok_.data()};
  static_assert(kMaxRegisters == 3, "decode_groups is instantiated for 1 to 3 registers");
  if (groups == 1)
    decode_groups<1>(w);
  else if (groups == 2)
    decode_groups<2>(w);
  else
    decode_groups<3>(w);
#endif
}

void XorLaneEncoder::encode(std::span<Chunk> chunks) {
#if defined(__x86_64__)
  encode_lanes(chunks);
#else
  (void)chunks;
#endif
}

}  // namespace promblock::chunkenc
