#include "tsdb/chunkenc/st.h"

#include "tsdb/chunkenc/varbit.h"

namespace promblock::chunkenc {

namespace {

// A zigzag varint of 7-bit groups, each in 8 bits of the bit stream.
bool read_bit_varint(enc::BitReader& r, int64_t& out) {
  uint64_t x = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    uint64_t byte;
    if (!r.read_bits(8, byte)) return false;
    if (byte < 0x80) {
      // Like Go's reader: a 10th byte's high bits are dropped, not refused.
      x |= byte << shift;
      out = int64_t(x >> 1);
      if (x & 1) out = ~out;
      return true;
    }
    x |= (byte & 0x7f) << shift;
  }
  return false;
}

void write_bit_varint(enc::BitWriter& w, int64_t v) {
  uint64_t x = uint64_t(v) << 1;
  if (v < 0) x = ~x;
  while (x >= 0x80) {
    w.write_byte(uint8_t(x) | 0x80);
    x >>= 7;
  }
  w.write_byte(uint8_t(x));
}

// Differences wrap as Go's do, without UB.
int64_t sub(int64_t a, int64_t b) { return int64_t(uint64_t(a) - uint64_t(b)); }
int64_t add(int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); }

}  // namespace

bool STDecoder::read(enc::BitReader& r, uint32_t num_read, int64_t t, int64_t prev_t) {
  int64_t v;
  if (num_read == 1) {
    if (!header_.first_known) return true;
    if (!read_bit_varint(r, v)) return false;
    st_diff_ = v, st_ = sub(t, v);
    return true;
  }
  const uint32_t first = header_.first_change_on;
  if (first == 0 || num_read - 1 < first) return true;
  if (!read_varbit_int(r, v)) return false;
  st_diff_ = num_read - 1 == first ? v : add(st_diff_, v);
  st_ = sub(prev_t, st_diff_);
  return true;
}

void STEncoder::write(enc::BitWriter& w, uint32_t num, int64_t t, int64_t prev_t, int64_t st,
                      STHeader& header) {
  if (num == 1) {
    if (st != 0) {
      write_bit_varint(w, sub(t, st));
      header.first_known = true;
    }
  } else if (first_change_on_ == 0) {
    if (st != st_ || num - 1 == kMaxFirstSTChangeOn) {
      st_diff_ = sub(prev_t, st);
      first_change_on_ = uint8_t(num - 1);
      header.first_change_on = first_change_on_;
      write_varbit_int(w, st_diff_);
    }
  } else {
    int64_t diff = sub(prev_t, st);
    write_varbit_int(w, sub(diff, st_diff_));
    st_diff_ = diff;
  }
  st_ = st;
}

}  // namespace promblock::chunkenc
