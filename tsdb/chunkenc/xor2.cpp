#include "tsdb/chunkenc/xor2.h"

#include <bit>

#include "tsdb/base/error.h"
#include "tsdb/chunkenc/varbit.h"

namespace promblock::chunkenc {

namespace {

constexpr size_t kHeaderSize = 3;  // sample count, ST header
constexpr uint64_t kStaleNaN = 0x7ff0000000000002;
constexpr uint8_t kFirstSTKnown = 0x80;
// The ST header has 7 bits for the first changing sample: from this index
// on, Prometheus writes ST deltas whether or not the ST ever changes.
constexpr uint16_t kMaxFirstSTChangeOn = 0x7f;

// Go's binary.PutVarint mapping of signed to unsigned.
uint64_t zigzag(int64_t x) { return x < 0 ? ~(uint64_t(x) << 1) : uint64_t(x) << 1; }
int64_t unzigzag(uint64_t u) { return (u & 1) ? int64_t(~(u >> 1)) : int64_t(u >> 1); }

// Go's signed arithmetic wraps; ours goes through uint64_t to do the same without UB.
int64_t wrap_sub(int64_t a, int64_t b) { return int64_t(uint64_t(a) - uint64_t(b)); }
int64_t wrap_add(int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); }

bool fits_signed(int64_t x, int nbits) {  // two's complement, as the dod fields are
  int64_t half = int64_t(1) << (nbits - 1);
  return -half <= x && x < half;
}

}  // namespace

// ---- Xor2Encoder ----

Xor2Encoder::Xor2Encoder() { stream_.write_bits(0, 8 * kHeaderSize); }

void Xor2Encoder::append(int64_t t, uint64_t v_bits, int64_t st) {
  if (num_samples_ == UINT16_MAX) throw Error("XOR2 chunk already holds 65535 samples");
  uint64_t t_delta = 0;
  int64_t st_diff = 0;
  if (num_samples_ == 0) {
    write_varint(t);
    stream_.write_bits(v_bits, 64);
    if (st != 0) {
      write_varint(wrap_sub(t, st));
      st_header_ = kFirstSTKnown;
    }
  } else if (num_samples_ == 1) {
    t_delta = uint64_t(t) - uint64_t(t_);
    write_uvarint(t_delta);
    write_value(v_bits);
    if (st != st_) {
      st_diff = wrap_sub(t_, st);
      first_st_change_on_ = 1;
      st_header_ |= 1;
      write_varbit_int(stream_, st_diff);
    }
  } else {
    t_delta = uint64_t(t) - uint64_t(t_);
    write_joint(int64_t(t_delta - t_delta_), v_bits);
    if (first_st_change_on_ > 0) {
      // ST deltas are on: each sample carries the change of prev_t - st.
      st_diff = wrap_sub(t_, st);
      write_varbit_int(stream_, wrap_sub(st_diff, st_diff_));
    } else if (st != st_ || num_samples_ == kMaxFirstSTChangeOn) {
      st_diff = wrap_sub(t_, st);
      first_st_change_on_ = num_samples_;
      st_header_ |= uint8_t(num_samples_);
      write_varbit_int(stream_, st_diff);
    }
  }
  st_ = st;
  t_ = t;
  if (v_bits != kStaleNaN) v_bits_ = v_bits;
  t_delta_ = t_delta;
  st_diff_ = st_diff;
  ++num_samples_;
}

void Xor2Encoder::write_varint(int64_t x) { write_uvarint(zigzag(x)); }

void Xor2Encoder::write_uvarint(uint64_t x) {
  // Byte-wise into the bit stream (not aligned), as Go's binary.PutUvarint lays it out.
  for (; x >= 0x80; x >>= 7) stream_.write_byte(uint8_t(x) | 0x80);
  stream_.write_byte(uint8_t(x));
}

void Xor2Encoder::write_joint(int64_t dod, uint64_t v_bits) {
  if (dod == 0) {
    if (v_bits == kStaleNaN) return stream_.write_bits(0b11111, 5);
    uint64_t x = v_bits ^ v_bits_;
    if (x == 0) return stream_.write_bits(0, 1);
    stream_.write_bits(0b10, 2);
    return write_xor(x, 0b0, 1, 0b1, 1);
  }
  if (fits_signed(dod, 13)) {
    stream_.write_bits(uint64_t(0b110) << 13 | (uint64_t(dod) & 0x1fff), 16);
  } else if (fits_signed(dod, 20)) {
    stream_.write_bits(uint64_t(0b1110) << 20 | (uint64_t(dod) & 0xfffff), 24);
  } else {
    stream_.write_bits(0b11110, 5);
    stream_.write_bits(uint64_t(dod), 64);
  }
  write_value(v_bits);
}

void Xor2Encoder::write_value(uint64_t v_bits) {
  // A stale NaN is told by its bits before any XOR: the baseline is never stale.
  if (v_bits == kStaleNaN) return stream_.write_bits(0b111, 3);
  uint64_t x = v_bits ^ v_bits_;
  if (x == 0) return stream_.write_bits(0, 1);
  write_xor(x, 0b10, 2, 0b110, 3);
}

void Xor2Encoder::write_xor(uint64_t x, uint64_t reuse, int reuse_bits, uint64_t fresh,
                            int fresh_bits) {
  int lead = std::countl_zero(x), trail = std::countr_zero(x);
  if (lead >= 32) lead = 31;  // the window's leading count has 5 bits
  if (leading_ != 0xff && lead >= leading_ && trail >= trailing_) {
    stream_.write_bits(reuse, reuse_bits);
    stream_.write_bits(x >> trailing_, 64 - leading_ - trailing_);
    return;
  }
  leading_ = uint8_t(lead);
  trailing_ = uint8_t(trail);
  int significant = 64 - lead - trail;
  stream_.write_bits(fresh, fresh_bits);
  // 64 significant bits are written as 0 in the 6-bit field.
  stream_.write_bits(uint64_t(lead) << 6 | uint64_t(significant & 0x3f), 11);
  stream_.write_bits(x >> trail, significant);
}

std::span<const uint8_t> Xor2Encoder::bytes() const {
  auto b = stream_.bytes();
  // BitWriter patches two bytes at a time: the count, then count's low byte and the ST header.
  stream_.patch_be16(0, num_samples_);
  stream_.patch_be16(1, uint16_t((num_samples_ & 0xff) << 8 | st_header_));
  return b;
}

// ---- Xor2Iterator ----

Xor2Iterator::Xor2Iterator(std::span<const uint8_t> chunk) {
  if (chunk.size() < kHeaderSize) {
    err_ = "XOR2 chunk of " + std::to_string(chunk.size()) + " bytes is shorter than its header";
    return;
  }
  num_total_ = enc::load_be16(chunk.data());
  first_st_known_ = (chunk[2] & kFirstSTKnown) != 0;
  first_st_change_on_ = chunk[2] & 0x7f;
  stream_ = enc::BitReader(chunk.subspan(kHeaderSize));
}

double Xor2Iterator::v() const { return std::bit_cast<double>(v_bits_); }

bool Xor2Iterator::next() {
  if (!err_.empty() || read_ == num_total_) return false;
  if (!read_sample()) {
    if (err_.empty()) fail("chunk ends before the sample does");
    return false;
  }
  ++read_;
  return true;
}

bool Xor2Iterator::fail(const std::string& what) {
  err_ = "XOR2 chunk sample " + std::to_string(read_) + " of " + std::to_string(num_total_) + ": " +
         what;
  return false;
}

bool Xor2Iterator::read_varint_bytes(uint64_t& out) {
  // As Go's bstreamReader.readUvarint: at most 10 bytes; bits past 64 are dropped.
  out = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    uint64_t byte;
    if (!stream_.read_bits(8, byte)) return false;
    if (shift < 64) out |= (byte & 0x7f) << shift;
    if (byte < 0x80) return true;
  }
  return fail("varint longer than 10 bytes");
}

bool Xor2Iterator::read_sample() {
  if (read_ == 0) {
    uint64_t u;
    if (!read_varint_bytes(u) || !stream_.read_bits(64, v_bits_)) return false;
    t_ = unzigzag(u);
    if (v_bits_ != kStaleNaN) baseline_ = v_bits_;
    if (first_st_known_) {
      if (!read_varint_bytes(u)) return false;
      st_ = wrap_sub(t_, unzigzag(u));
    }
    return true;
  }
  int64_t prev_t = t_;
  if (read_ == 1) {
    if (!read_varint_bytes(t_delta_)) return false;
    t_ = wrap_add(t_, int64_t(t_delta_));
    if (!read_value()) return false;
    if (first_st_change_on_ == 1) {
      if (!read_varbit_int(stream_, st_diff_)) return false;
      st_ = wrap_sub(prev_t, st_diff_);
    }
    return true;
  }
  // The joint prefix: count the 1-bits, up to five.
  int ones = 0;
  for (bool bit = true; ones < 5; ++ones) {
    if (!stream_.read_bit(bit)) return false;
    if (!bit) break;
  }
  static constexpr int kDodBits[] = {0, 0, 13, 20, 64};
  if (ones <= 1 || ones == 5) {
    t_ = wrap_add(t_, int64_t(t_delta_));
    if (ones == 0) {
      v_bits_ = baseline_;
    } else if (ones == 5) {
      v_bits_ = kStaleNaN;
    } else {
      bool new_window;
      if (!stream_.read_bit(new_window) || !read_xor(new_window)) return false;
    }
  } else {
    int w = kDodBits[ones];
    uint64_t dod;
    if (!stream_.read_bits(w, dod)) return false;
    if (w < 64 && dod >> (w - 1)) dod -= uint64_t(1) << w;  // sign-extend
    t_delta_ += dod;
    t_ = wrap_add(t_, int64_t(t_delta_));
    if (!read_value()) return false;
  }
  if (first_st_change_on_ > 0 && read_ >= first_st_change_on_) {
    int64_t d;
    if (!read_varbit_int(stream_, d)) return false;
    st_diff_ = read_ == first_st_change_on_ ? d : wrap_add(st_diff_, d);
    st_ = wrap_sub(prev_t, st_diff_);
  }
  return true;
}

bool Xor2Iterator::read_value() {
  bool bit;
  if (!stream_.read_bit(bit)) return false;
  if (!bit) {
    v_bits_ = baseline_;
    return true;
  }
  if (!stream_.read_bit(bit)) return false;
  if (!bit) return read_xor(false);
  if (!stream_.read_bit(bit)) return false;
  if (!bit) return read_xor(true);
  v_bits_ = kStaleNaN;
  return true;
}

bool Xor2Iterator::read_xor(bool new_window) {
  if (new_window) {
    uint64_t head;
    if (!stream_.read_bits(11, head)) return false;
    int lead = int(head >> 6), significant = int(head & 0x3f);
    if (significant == 0) significant = 64;
    if (lead + significant > 64)
      return fail("invalid XOR window (" + std::to_string(lead) + " leading zeros and " +
                  std::to_string(significant) + " significant bits)");
    leading_ = uint8_t(lead);
    trailing_ = uint8_t(64 - lead - significant);
  }
  // Before any window (only in malformed or re-opened chunks) the window is all 64 bits.
  uint64_t x;
  if (!stream_.read_bits(64 - leading_ - trailing_, x)) return false;
  v_bits_ = baseline_ ^ (x << trailing_);
  baseline_ = v_bits_;
  return true;
}

}  // namespace promblock::chunkenc
