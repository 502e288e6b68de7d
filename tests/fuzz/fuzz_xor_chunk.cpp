// The XOR chunk decoders: XorIterator (checked, sample by sample), and the
// merge's whole-chunk decoder xor_decode_chunk and its lanes (XorLaneDecoder,
// where the CPU has AVX-512), which must agree with it: the same samples
// when the chunk is valid, failure when it is not. Then the encoders: what
// decoded, xor_encode_chunk and XorLaneEncoder encode to the same bytes.
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor_batch.h"
#include "tsdb/chunkenc/xor_lanes.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> chunk(data, size);
  struct Sample {
    int64_t t;
    uint64_t v_bits;
    bool operator==(const Sample&) const = default;
  };
  std::vector<Sample> it_samples, batch_samples;
  chunkenc::XorIterator it(chunk);
  while (it.next()) it_samples.push_back({it.t(), it.v_bits()});
  // A chunk without a header has no count to check against.
  bool it_ok = it.err().empty() && size >= 2;

  std::vector<uint8_t> scratch;
  bool batch_ok = chunkenc::xor_decode_chunk(chunk, scratch, [&](uint32_t, int64_t t, uint64_t v) {
    batch_samples.push_back({t, v});
  });
  if (it_ok != batch_ok) __builtin_trap();
  if (it_ok && it_samples != batch_samples) __builtin_trap();
  if (!it_ok) (void)chunkenc::xor_chunk_error(chunk);

  // In lanes, twice and between copies of a valid chunk: faults stay with
  // their chunk. An exact-size copy, so that AddressSanitizer sees overruns.
  static const std::vector<uint8_t> valid = [] {
    chunkenc::XorEncoder e;
    for (int64_t t = 0; t < 150; ++t) e.append(t * 15000 + t % 7, double(t % 13) / 3);
    return std::vector<uint8_t>(e.bytes().begin(), e.bytes().end());
  }();
  const std::vector<uint8_t> exact(data, data + size);
  chunkenc::XorLaneDecoder lanes;
  std::vector<int> numbers;
  for (int i = 0; i < 11; ++i)
    numbers.push_back(lanes.add(i % 5 == 2 ? std::span(exact) : std::span(valid)));
  lanes.decode();
  for (int i = 0; i < 11; ++i) {
    const int n = numbers[size_t(i)];
    if (n < 0) {
      // Not taken: only where the lanes are off or the count is out of their range.
      const uint32_t total = size >= 2 ? uint32_t(data[0]) << 8 | data[1] : 0;
      if (chunkenc::xor_lanes_supported() && i % 5 != 2) __builtin_trap();
      if (chunkenc::xor_lanes_supported() && total != 0 &&
          total <= chunkenc::XorLaneDecoder::kMaxSamples)
        __builtin_trap();
      continue;
    }
    std::vector<Sample> lane_samples;
    lanes.emit_samples(n, [&](uint32_t, int64_t t, uint64_t v) { lane_samples.push_back({t, v}); });
    if (i % 5 != 2) {
      if (!lanes.ok(n) || lane_samples.size() != 150) __builtin_trap();
      continue;
    }
    if (lanes.ok(n) != it_ok) __builtin_trap();
    if (it_ok && lane_samples != it_samples) __builtin_trap();
  }

  // The samples encoded again, in lanes (next to the valid chunk's) and one
  // by one: the same bytes.
  if (!it_ok || it_samples.empty() || !chunkenc::xor_lanes_supported()) return 0;
  std::vector<uint8_t> want(chunkenc::xor_max_encoded_size(it_samples.size()));
  want.resize(chunkenc::xor_encode_chunk(it_samples.data(), it_samples.size(), want.data()));
  std::vector<Sample> other;
  chunkenc::XorIterator valid_it(valid);
  while (valid_it.next()) other.push_back({valid_it.t(), valid_it.v_bits()});
  std::vector<uint8_t> got(chunkenc::XorLaneEncoder::room(it_samples.size()));
  std::vector<uint8_t> other_dst(chunkenc::XorLaneEncoder::room(other.size()));
  chunkenc::XorLaneEncoder::Chunk chunks[2] = {
      {other.data(), uint32_t(other.size()), other_dst.data(), 0, sizeof(Sample)},
      {it_samples.data(), uint32_t(it_samples.size()), got.data(), 0, sizeof(Sample)}};
  chunkenc::XorLaneEncoder::encode(chunks);
  if (chunks[1].size != want.size() || !std::equal(want.begin(), want.end(), got.begin()))
    __builtin_trap();
  if (chunks[0].size != valid.size() || !std::equal(valid.begin(), valid.end(), other_dst.begin()))
    __builtin_trap();
  return 0;
}
