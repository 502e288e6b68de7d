#include "tsdb/chunkenc/xor.h"

#include <bit>

#include "tsdb/base/error.h"

namespace promblock::chunkenc {

namespace {

constexpr size_t kHeaderSize = 2;  // big-endian sample count

// Go's binary.PutVarint mapping of signed to unsigned.
uint64_t zigzag(int64_t x) { return x < 0 ? ~(uint64_t(x) << 1) : uint64_t(x) << 1; }

}  // namespace

// ---- XorEncoder ----

XorEncoder::XorEncoder() {
  stream_.write_bits(0, 8 * kHeaderSize);  // the sample count, patched in by bytes()
}

void XorEncoder::append(int64_t t, double v) { append_bits(t, std::bit_cast<uint64_t>(v)); }

void XorEncoder::append_first(int64_t t, uint64_t v_bits) {
  if (num_samples_ == UINT16_MAX) throw Error("XOR chunk already holds 65535 samples");
  // Unsigned arithmetic: deltas wrap exactly as Go's do, without UB.
  uint64_t t_delta = uint64_t(t) - uint64_t(t_);
  if (num_samples_ == 0) {
    write_uvarint(zigzag(t));
    stream_.write_bits(v_bits, 64);
    t_delta = 0;
  } else {
    write_uvarint(t_delta);
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
