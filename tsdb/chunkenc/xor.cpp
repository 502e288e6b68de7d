#include "tsdb/chunkenc/xor.h"

#include <bit>

#include "tsdb/error.h"

namespace promblock::chunkenc {

namespace {

constexpr size_t kHeaderSize = 2;  // big-endian sample count

// Whether x fits the delta-of-delta bucket of `nbits` bits. The range is
// Prometheus's: one more on the positive side than on the negative side.
bool fits_bucket(int64_t x, int nbits) {
  int64_t half = int64_t(1) << (nbits - 1);
  return -(half - 1) <= x && x <= half;
}

// Undoes the bucket's two's-complement-ish packing (see fits_bucket).
int64_t unpack_bucket(uint64_t bits, int nbits) {
  if (bits > (uint64_t(1) << (nbits - 1))) return int64_t(bits) - (int64_t(1) << nbits);
  return int64_t(bits);
}

// Go's binary.PutVarint mapping of signed to unsigned.
uint64_t zigzag(int64_t x) { return x < 0 ? ~(uint64_t(x) << 1) : uint64_t(x) << 1; }

}  // namespace

std::string encoding_name(uint8_t encoding) {
  switch (Encoding(encoding)) {
    case Encoding::kNone:
      return "none";
    case Encoding::kXOR:
      return "XOR";
    case Encoding::kHistogram:
      return "histogram";
    case Encoding::kFloatHistogram:
      return "floathistogram";
  }
  return "unknown(" + std::to_string(encoding) + ")";
}

// ---- XorEncoder ----

XorEncoder::XorEncoder() {
  stream_.bytes().reserve(128);  // what Prometheus starts with
  stream_.bytes().resize(kHeaderSize, 0);
}

void XorEncoder::append(int64_t t, double v) { append_bits(t, std::bit_cast<uint64_t>(v)); }

void XorEncoder::append_bits(int64_t t, uint64_t v_bits) {
  if (num_samples_ == UINT16_MAX) throw Error("XOR chunk already holds 65535 samples");
  // Unsigned arithmetic: deltas wrap exactly as Go's do, without UB.
  uint64_t t_delta = uint64_t(t) - uint64_t(t_);
  if (num_samples_ == 0) {
    write_uvarint(zigzag(t));
    stream_.write_bits(v_bits, 64);
    t_delta = 0;
  } else if (num_samples_ == 1) {
    write_uvarint(t_delta);
    write_value(v_bits);
  } else {
    int64_t dod = int64_t(t_delta - t_delta_);
    // Prefix and payload go out in one write where they fit 64 bits.
    if (dod == 0) {
      stream_.write_bit(false);
    } else if (fits_bucket(dod, 14)) {
      stream_.write_bits(0b10 << 14 | (uint64_t(dod) & 0x3fff), 16);
    } else if (fits_bucket(dod, 17)) {
      stream_.write_bits(0b110 << 17 | (uint64_t(dod) & 0x1ffff), 20);
    } else if (fits_bucket(dod, 20)) {
      stream_.write_bits(0b1110 << 20 | (uint64_t(dod) & 0xfffff), 24);
    } else {
      stream_.write_bits(0b1111, 4);
      stream_.write_bits(uint64_t(dod), 64);
    }
    write_value(v_bits);
  }
  t_ = t;
  t_delta_ = t_delta;
  v_bits_ = v_bits;
  ++num_samples_;
  enc::store_be16(stream_.bytes().data(), num_samples_);
}

void XorEncoder::write_uvarint(uint64_t x) {
  // Byte-wise into the bit stream, as Go's binary.PutUvarint lays it out.
  for (; x >= 0x80; x >>= 7) stream_.write_byte(uint8_t(x) | 0x80);
  stream_.write_byte(uint8_t(x));
}

void XorEncoder::write_value(uint64_t v_bits) {
  uint64_t x = v_bits ^ v_bits_;
  if (x == 0) {
    stream_.write_bit(false);
    return;
  }
  auto leading = uint8_t(std::countl_zero(x));
  auto trailing = uint8_t(std::countr_zero(x));
  // The window's leading count has only 5 bits.
  if (leading >= 32) leading = 31;
  if (leading_ != 0xff && leading >= leading_ && trailing >= trailing_) {
    // Control bits 1 0, then the XOR inside the previous window.
    int significant = 64 - leading_ - trailing_;
    stream_.write_bits(0b10, 2);
    stream_.write_bits(x >> trailing_, significant);
    return;
  }
  leading_ = leading;
  trailing_ = trailing;
  // Control bits 1 1, 5 bits of leading zeros, 6 of significant bits. 64
  // significant bits do not fit in 6 bits and are written as 0; 0 never
  // occurs (that is the x == 0 case above).
  int significant = 64 - leading - trailing;
  stream_.write_bits(uint64_t(0b11) << 11 | uint64_t(leading) << 6 | uint64_t(significant & 0x3f),
                     13);
  stream_.write_bits(x >> trailing, significant);
}

// ---- XorIterator ----

XorIterator::XorIterator(std::span<const uint8_t> chunk) {
  if (chunk.size() < kHeaderSize) {
    err_ = "chunk of " + std::to_string(chunk.size()) + " bytes is shorter than its header";
    return;
  }
  num_total_ = enc::load_be16(chunk.data());
  stream_ = enc::BitReader(chunk.subspan(kHeaderSize));
}

double XorIterator::v() const { return std::bit_cast<double>(v_bits_); }

bool XorIterator::fail_truncated() {
  if (err_.empty()) {
    err_ = "chunk ends before its " + std::to_string(num_total_) + " samples (after " +
           std::to_string(num_read_) + ")";
  }
  return false;
}

bool XorIterator::read_uvarint(uint64_t& out) {
  // As Go's binary.ReadUvarint: at most 10 bytes, the 10th at most 1.
  uint64_t x = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    uint64_t b;
    if (!stream_.read_bits(8, b)) return fail_truncated();
    if (b < 0x80) {
      if (i == 9 && b > 1) break;
      out = x | b << shift;
      return true;
    }
    x |= (b & 0x7f) << shift;
  }
  err_ = "varint overflows 64 bits in chunk sample " + std::to_string(num_read_);
  return false;
}

bool XorIterator::read_varint(int64_t& out) {
  uint64_t u;
  if (!read_uvarint(u)) return false;
  out = int64_t(u >> 1);
  if (u & 1) out = ~out;
  return true;
}

bool XorIterator::next() {
  if (num_read_ == num_total_ || !err_.empty()) return false;
  if (num_read_ == 0) {
    if (!read_varint(t_)) return false;
    if (!stream_.read_bits(64, v_bits_)) return fail_truncated();
    ++num_read_;
    return true;
  }
  if (num_read_ == 1) {
    if (!read_uvarint(t_delta_)) return false;
    t_ = int64_t(uint64_t(t_) + t_delta_);
    return read_value();
  }

  // Bucket prefix: up to four 1-bits ended by a 0-bit.
  int ones = 0;
  for (; ones < 4; ++ones) {
    bool bit;
    if (!stream_.read_bit(bit)) return fail_truncated();
    if (!bit) break;
  }
  int64_t dod = 0;
  if (ones > 0) {
    static constexpr int kBucketBits[] = {0, 14, 17, 20, 64};
    int nbits = kBucketBits[ones];
    uint64_t bits;
    if (!stream_.read_bits(nbits, bits)) return fail_truncated();
    dod = nbits == 64 ? int64_t(bits) : unpack_bucket(bits, nbits);
  }
  t_delta_ += uint64_t(dod);
  t_ = int64_t(uint64_t(t_) + t_delta_);
  return read_value();
}

bool XorIterator::read_value() {
  bool changed;
  if (!stream_.read_bit(changed)) return fail_truncated();
  if (changed) {
    bool new_window;
    if (!stream_.read_bit(new_window)) return fail_truncated();
    if (new_window) {
      uint64_t window;  // 5 bits of leading zeros, 6 of significant bits
      if (!stream_.read_bits(11, window)) return fail_truncated();
      uint64_t leading = window >> 6, significant = window & 0x3f;
      if (significant == 0) significant = 64;  // see XorEncoder::write_value
      if (leading + significant > 64) {
        err_ = "invalid XOR window (" + std::to_string(leading) + " leading zeros, " +
               std::to_string(significant) + " significant bits) in chunk sample " +
               std::to_string(num_read_);
        return false;
      }
      leading_ = uint8_t(leading);
      trailing_ = uint8_t(64 - leading - significant);
    }
    uint64_t bits;
    if (!stream_.read_bits(64 - leading_ - trailing_, bits)) return fail_truncated();
    v_bits_ ^= bits << trailing_;
  }
  ++num_read_;
  return true;
}

}  // namespace promblock::chunkenc
