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
  stream_.write_bits(0, 8 * kHeaderSize);  // the sample count, patched in by bytes()
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
    // The bucket is picked by arithmetic, not a chain of branches: with
    // jittered scrapes the bucket changes unpredictably from sample to
    // sample. Buckets nest, so counting the ones dod misses gives its index.
    int bucket = (dod != 0) + !fits_bucket(dod, 14) + !fits_bucket(dod, 17) + !fits_bucket(dod, 20);
    if (bucket < 4) [[likely]] {
      // Prefix and payload in one write: '0', '10'+14, '110'+17, '1110'+20 bits.
      static constexpr uint8_t kPayloadBits[] = {0, 14, 17, 20};
      static constexpr uint8_t kPrefix[] = {0b0, 0b10, 0b110, 0b1110};
      int payload = kPayloadBits[bucket];
      uint64_t mask = (uint64_t(1) << payload) - 1;
      stream_.write_bits(uint64_t(kPrefix[bucket]) << payload | (uint64_t(dod) & mask),
                         bucket + 1 + payload);
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

std::span<const uint8_t> XorEncoder::bytes() const {
  auto b = stream_.bytes();
  stream_.patch_be16(0, num_samples_);
  return b;
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

double XorIterator::v() const { return std::bit_cast<double>(state_.v_bits); }

std::string xor_step_error(XorStep step, const XorDecodeState& s, uint16_t total) {
  switch (step) {
    case XorStep::kOk:
      break;
    case XorStep::kTruncated:
      return "chunk ends before its " + std::to_string(total) + " samples (after " +
             std::to_string(s.read) + ")";
    case XorStep::kBadWindow:
      return "invalid XOR window (more than 64 leading zeros and significant bits) in chunk "
             "sample " +
             std::to_string(s.read);
    case XorStep::kVarintOverflow:
      return "varint overflows 64 bits in chunk sample " + std::to_string(s.read);
  }
  return "";
}

}  // namespace promblock::chunkenc
