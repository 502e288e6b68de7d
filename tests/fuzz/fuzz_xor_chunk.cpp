// The XOR chunk decoders: XorIterator (checked, sample by sample) and the
// merge's whole-chunk decoder xor_decode_chunk, which must agree with it:
// the same samples when the chunk is valid, failure when it is not.
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "tsdb/chunkenc/xor_batch.h"

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
  return 0;
}
