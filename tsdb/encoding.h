#pragma once
// All byte-level encoding helpers of the on-disk formats live here, once:
// big-endian integers, (u)varints, CRC32-Castagnoli, and bit streams.
//
// Decbuf follows the "sticky error" idiom: a run of reads is made without
// checking each one; the first out-of-bounds or malformed read sets err() and
// every later read returns zero. Callers check err() once after the run.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace promblock::enc {

// ---- CRC32-Castagnoli (as Go's crc32.MakeTable(crc32.Castagnoli)) ----
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
inline uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0) {
  return crc32c(std::span<const uint8_t>(p, n), crc);
}

// ---- writing ----
class Encbuf {
 public:
  void put_byte(uint8_t b) { buf_.push_back(b); }
  void put_be16(uint16_t v);
  void put_be32(uint32_t v);
  void put_be64(uint64_t v);
  void put_uvarint(uint64_t v);
  void put_varint(int64_t v);  // zig-zag, as Go's binary.PutVarint
  void put_bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void put_string(std::string_view s) { buf_.insert(buf_.end(), s.begin(), s.end()); }
  void put_uvarint_str(std::string_view s) {  // uvarint length + bytes
    put_uvarint(s.size());
    put_string(s);
  }
  void put_crc32c_of(size_t from) {  // appends CRC32-C of buf_[from:]
    put_be32(crc32c(std::span<const uint8_t>(buf_.data() + from, buf_.size() - from)));
  }

  std::span<const uint8_t> bytes() const { return buf_; }
  std::vector<uint8_t>& vec() { return buf_; }
  size_t size() const { return buf_.size(); }
  void clear() { buf_.clear(); }

 private:
  std::vector<uint8_t> buf_;
};

// Raw helpers for fixed positions (e.g. patching a length in place).
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}
inline void store_be16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
inline uint16_t load_be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint64_t load_be64(const uint8_t* p) {
  return uint64_t(load_be32(p)) << 32 | load_be32(p + 4);
}

// Size of the uvarint encoding of v.
inline size_t uvarint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

// ---- reading ----
class Decbuf {
 public:
  Decbuf() = default;
  explicit Decbuf(std::span<const uint8_t> b) : p_(b.data()), end_(b.data() + b.size()) {}

  // Non-empty once any read failed; the text says what failed.
  const std::string& err() const { return err_; }
  bool ok() const { return err_.empty(); }
  size_t remaining() const { return size_t(end_ - p_); }
  const uint8_t* pos() const { return p_; }

  uint8_t byte();
  uint16_t be16();
  uint32_t be32();
  uint64_t be64();
  uint64_t uvarint();
  int64_t varint();
  // uvarint that must fit in 32 bits (symbol refs, counts).
  uint32_t uvarint32();
  std::span<const uint8_t> bytes(size_t n);
  std::string_view uvarint_str();  // uvarint length + bytes
  void skip(size_t n) { (void)bytes(n); }

  void set_err(std::string e) {
    if (err_.empty()) err_ = std::move(e);
    p_ = end_;
  }

 private:
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
  std::string err_;
};

// ---- bit streams (MSB first, as Prometheus's bstream) ----
class BitWriter {
 public:
  void write_bit(bool bit);
  // Writes the low `nbits` bits of v, most significant first (nbits <= 64).
  void write_bits(uint64_t v, int nbits);
  void write_byte(uint8_t b) { write_bits(b, 8); }
  std::vector<uint8_t>& bytes() { return stream_; }
  const std::vector<uint8_t>& bytes() const { return stream_; }
  // Bits still free in the last byte (0 when the last byte is full).
  int free_bits() const { return free_; }

 private:
  std::vector<uint8_t> stream_;
  int free_ = 0;
};

class BitReader {
 public:
  BitReader() = default;
  explicit BitReader(std::span<const uint8_t> b) : p_(b.data()), end_(b.data() + b.size()) {}
  // Reads return false once the stream is exhausted; a failed read consumes
  // nothing. Inline because the XOR iterator calls these for every sample.
  bool read_bit(bool& bit) {
    if (valid_ == 0) {
      refill();
      if (valid_ == 0) return false;
    }
    bit = (window_ >> 63) != 0;
    window_ <<= 1;
    --valid_;
    return true;
  }
  bool read_bits(int nbits, uint64_t& out) {  // nbits <= 64
    if (nbits > kMaxFastBits) return read_bits_split(nbits, out);
    if (nbits > valid_) {
      refill();
      if (nbits > valid_) return false;
    }
    // Two shifts so that nbits == 0 is not a shift by 64.
    out = (window_ >> 1) >> (63 - nbits);
    window_ <<= nbits;
    valid_ -= nbits;
    return true;
  }
  size_t bits_left() const { return size_t(end_ - p_) * 8 + size_t(valid_); }

 private:
  // After a refill at least 57 bits are buffered unless the input ran out,
  // so reads up to 56 bits need at most one refill.
  static constexpr int kMaxFastBits = 56;
  void refill() {
    if (end_ - p_ >= 8) {
      // Load 8 bytes at once; only whole bytes that fit count as consumed,
      // the rest land where the next refill would put them anyway.
      window_ |= load_be64(p_) >> valid_;
      int take = (64 - valid_) >> 3;
      p_ += take;
      valid_ += take * 8;
    } else {
      refill_tail();
    }
  }
  void refill_tail();
  bool read_bits_split(int nbits, uint64_t& out);

  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
  // The next unread bits, most significant first. Bits below the top
  // `valid_` ones are either zero or already the right next stream bits.
  uint64_t window_ = 0;
  int valid_ = 0;
};

}  // namespace promblock::enc
