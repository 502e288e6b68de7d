#pragma once
// Decoding and encoding many XOR chunks at once, one per 64-bit lane of
// AVX-512 registers.
//
// Decoding: a chunk's bit stream is a chain of dependent reads (where a
// sample starts depends on the one before), so one chunk decodes at the
// speed of that chain; eight or more chunks side by side run their chains
// together, in the same instructions. Encoding: the one-by-one encoder's
// choices (timestamp bucket, value window) are branches mispredicted at
// every jittered scrape; in lanes they are per-lane selections. Each about
// halves the time a sample takes on the merge's chunks (README,
// benchmarks); the bytes and samples are those of xor_batch.h exactly.
//
// The first two samples of each chunk (varints, a whole first value) go
// through xor_batch.h's code one chunk at a time; the rest in the lanes.
// Where the CPU lacks the instructions, xor_lanes_supported() is false and
// callers use xor_batch.h alone.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tsdb/chunkenc/xor_batch.h"

namespace promblock::chunkenc {

// Whether this CPU (and its OS) runs AVX-512 F, CD, BW, DQ, VL and VBMI2.
// PROMBLOCK_NO_AVX512=1 in the environment makes it false, to compare the
// two ways on one machine.
bool xor_lanes_supported();

// Decodes queued chunks; a chunk that xor_decode_chunk would fail fails
// here too (ok() is false), with no error: the caller decodes it again the
// checked way for that.
class XorLaneDecoder {
 public:
  // Longer chunks are left to xor_decode_chunk (the lanes' samples are
  // kept for the longest chunk of a call).
  static constexpr uint32_t kMaxSamples = 1024;

  void clear();
  // Queues a whole chunk (header included) that must stay readable until
  // decode(); returns its number, or -1 where it is not for the lanes (no
  // support, no header, an empty or too long chunk).
  int add(std::span<const uint8_t> chunk);
  size_t size() const { return totals_.size(); }
  // Samples of the queued chunks.
  uint64_t samples() const { return samples_; }
  // Decodes every queued chunk.
  void decode();

  // After decode(): whether chunk i decoded without fault, and its samples
  // through emit(index, t, v_bits), as xor_decode_chunk calls it.
  bool ok(int i) const { return ok_[size_t(i)]; }
  template <class Emit>
  void emit_samples(int i, Emit&& emit) const {
    const Column c = column(i);
    for (uint32_t k = 0; k < c.count; ++k) emit(k, int64_t(c.t[k * kStride]), c.v[k * kStride]);
  }
  // Or where they lie, until the next clear() or decode(): sample k's
  // timestamp and value bits at t[k * kStride] and v[k * kStride].
  static constexpr size_t kStride = 8;  // lanes in a register
  // Registers decoding side by side at most: one leaves the reads' latency
  // showing, and four hold more state than there are registers. Their
  // lanes are how many chunks are decoded at once.
  static constexpr size_t kMaxRegisters = 3;
  static constexpr size_t kLanes = kMaxRegisters * kStride;
  struct Column {
    const uint64_t* t;
    const uint64_t* v;
    uint32_t count;
  };
  Column column(int i) const {
    return {t_.data() + at_[size_t(i)], v_.data() + at_[size_t(i)], totals_[size_t(i)]};
  }

 private:
  static constexpr size_t kGroup = kStride;

  std::vector<std::span<const uint8_t>> chunks_;
  std::vector<uint32_t> totals_;
  uint64_t samples_ = 0;
  std::vector<uint8_t> ok_;
  // The chunks' bit streams, each followed by zero padding, and where
  // each starts and ends (in bits).
  std::vector<uint8_t> streams_;
  std::vector<uint64_t> starts_, ends_;
  std::vector<uint32_t> order_;  // the order the lanes take them in
  std::vector<uint32_t> short_;  // those of one or two samples
  // Samples in rows of eight lanes, by register; each chunk's in one
  // lane's column from row at_ on.
  std::vector<uint64_t> t_, v_;
  std::vector<size_t> at_;
};

// Encodes up to eight chunks at once.
class XorLaneEncoder {
 public:
  static constexpr size_t kLanes = 8;
  // The room a chunk of n samples needs at its destination: each sample is
  // stored as 16 bytes, which can reach past the chunk's end.
  static constexpr size_t room(size_t n) { return xor_max_encoded_size(n) + 16; }

  struct Chunk {
    const void* samples;  // n of them, `stride` bytes apart
    uint32_t n;           // 1 to 65535
    uint8_t* dst;         // room(n) bytes
    size_t size = 0;      // set by encode: the chunk's bytes at dst
    // Bytes from one sample to the next, each chunk its own: a merge
    // encodes chunks of tagged and of plain samples together.
    size_t stride = 0;
  };
  // Encodes each chunk's samples, whose int64 timestamp is at byte 0 and
  // value bits at byte 8 of each `stride` bytes, as xor_encode_chunk does.
  // At most kLanes chunks; only where xor_lanes_supported().
  static void encode(std::span<Chunk> chunks);
};

}  // namespace promblock::chunkenc
