#pragma once
// All byte-level encoding helpers of the on-disk formats live here, once:
// big-endian integers, (u)varints, CRC32-Castagnoli, and bit streams.
//
// Decbuf follows the "sticky error" idiom: a run of reads is made without
// checking each one; the first out-of-bounds or malformed read sets err() and
// every later read returns zero. Callers check err() once after the run.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/base/uninitialized.h"

namespace promblock::enc {

// ---- CRC32-Castagnoli (as Go's crc32.MakeTable(crc32.Castagnoli)) ----
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
inline uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0) {
  return crc32c(std::span<const uint8_t>(p, n), crc);
}
// The same by tables alone, as on CPUs without SSE 4.2: for tests.
uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc = 0);
// Fuzz builds (libFuzzer's FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) skip
// checksum comparisons, so that mutated inputs reach the parsers behind them.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
inline constexpr bool kCheckChecksums = false;
#else
inline constexpr bool kCheckChecksums = true;
#endif
inline bool checksum_ok(uint32_t computed, uint32_t stored) {
  return !kCheckChecksums || computed == stored;
}

// A uvarint of 64 bits takes at most ten bytes.
inline constexpr size_t kMaxVarintBytes = 10;

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

  // Room for up to n more bytes, written through the pointer returned;
  // end_room(end) keeps those before `end`. For encoders of many small
  // fields (a series entry's chunk metas, three varints each), where a
  // capacity check per byte was most of the time.
  uint8_t* room(size_t n) {
    const size_t at = buf_.size();
    buf_.resize(at + n);
    return buf_.data() + at;
  }
  void end_room(const uint8_t* end) { buf_.resize(size_t(end - buf_.data())); }

  std::span<const uint8_t> bytes() const { return buf_; }
  size_t size() const { return buf_.size(); }
  void clear() { buf_.clear(); }

 private:
  UninitializedVector<uint8_t> buf_;  // room() leaves it unwritten
};

// Write a uvarint (at most kMaxVarintBytes) or a zig-zag varint at p;
// return the end of what they wrote.
inline uint8_t* write_uvarint(uint8_t* p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = uint8_t(v) | 0x80;
  *p++ = uint8_t(v);
  return p;
}
inline uint8_t* write_varint(uint8_t* p, int64_t v) {
  const uint64_t u = uint64_t(v) << 1;
  return write_uvarint(p, v < 0 ? ~u : u);
}

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
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);  // one load and a byte swap (x86 and ARM are little-endian)
}
inline void store_be64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
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
  // Inline with a path that checks no bound per byte where ten bytes are
  // left: reading an index decodes three per chunk meta.
  uint64_t uvarint() {
    if (size_t(end_ - p_) >= kMaxVarintBytes) [[likely]] {
      const uint8_t* p = p_;
      uint64_t x = 0;
      for (int shift = 0; shift < 63; shift += 7) {
        const uint8_t b = *p++;
        x |= uint64_t(b & 0x7f) << shift;
        if (b < 0x80) return p_ = p, x;
      }
      if (*p <= 1) return p_ = p + 1, x | uint64_t(*p) << 63;
    }
    return uvarint_checked();  // near the end, or the overflow's error
  }
  int64_t varint() {
    const uint64_t u = uvarint();
    const int64_t x = int64_t(u >> 1);
    return u & 1 ? ~x : x;
  }
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
  // uvarint() checking the bounds at every byte.
  uint64_t uvarint_checked();
  // A big-endian integer of sizeof(T) bytes, read by Load.
  template <class T, T (*Load)(const uint8_t*)>
  T fixed();

  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
  std::string err_;
};

// ---- bit streams (MSB first, as Prometheus's bstream) ----
static_assert(std::endian::native == std::endian::little, "load_be64 byte-swaps");

class BitWriter {
 public:
  void write_bit(bool bit) { write_bits(bit, 1); }
  // Writes the low `nbits` bits of v, most significant first (nbits <= 64).
  // Inline and branch-light: the XOR encoder calls this for every sample.
  // Bits gather in a register and go to memory a word at a time, so that
  // no store has to be read back at once.
  void write_bits(uint64_t v, int nbits) {
    if (nbits > kMaxFastBits) {
      write_bits(v >> 32, nbits - 32);
      nbits = 32;
    }
    if (nbits <= 0) return;
    v &= (uint64_t(1) << nbits) - 1;
    if (pending_ + nbits > 64) flush();  // leaves fewer than 8 pending
    acc_ = acc_ << nbits | v;
    pending_ += nbits;
  }
  void write_byte(uint8_t b) { write_bits(b, 8); }
  // Every byte written so far (the last one may be partial); valid until
  // the next write.
  std::span<const uint8_t> bytes() const {
    sync();
    return {buf_.data(), size_ + size_t(pending_ + 7) / 8};
  }
  // Overwrites two bytes in the view the last bytes() call returned (a
  // chunk header, say); a later write or bytes() may undo it.
  void patch_be16(size_t at, uint16_t v) const {
    buf_[at] = uint8_t(v >> 8), buf_[at + 1] = uint8_t(v);
  }

 private:
  static constexpr int kMaxFastBits = 56;
  // Room for a whole word past the flushed bytes. A chunk of 120 samples
  // takes about 250 bytes: most chunks need a single allocation.
  void grow() const { buf_.resize(std::max<size_t>(256, 2 * (size_ + 8))); }
  // Moves the whole pending bytes to the buffer.
  void flush() {
    if (size_ + 8 > buf_.size()) grow();
    store_be64(buf_.data() + size_, acc_ << (64 - pending_));
    size_ += size_t(pending_ / 8);
    pending_ %= 8;
  }
  // Puts the pending bits (the partial byte too) into the buffer without
  // consuming them: the next flush rewrites those bytes with the same bits.
  void sync() const {
    if (size_ + 8 > buf_.size()) grow();
    if (pending_ > 0) store_be64(buf_.data() + size_, acc_ << (64 - pending_));
  }

  mutable std::vector<uint8_t> buf_;
  size_t size_ = 0;   // whole bytes flushed to buf_
  uint64_t acc_ = 0;  // the last `pending_` bits written, in its low bits
  int pending_ = 0;
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
  // Fast paths that look ahead: available(n) (n <= 57) buffers at least n
  // bits unless the stream ends first and returns how many are buffered;
  // peek(n) and skip(n) then need n <= that count.
  int available(int n) {
    if (valid_ < n) refill();
    return valid_;
  }
  uint64_t peek(int nbits) const { return (window_ >> 1) >> (63 - nbits); }
  void skip(int nbits) {
    window_ <<= nbits;
    valid_ -= nbits;
  }

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
