// The XOR2 chunk decoder on arbitrary bytes: it must stay inside the input
// and either fail or yield the header's count of samples; whatever it
// yields, the encoder must write a chunk that reads back the same.
#include <vector>

#include "tsdb/chunkenc/xor2.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  struct Sample {
    int64_t t;
    uint64_t v_bits;
    int64_t st;
    bool operator==(const Sample&) const = default;
  };
  std::vector<Sample> samples;
  chunkenc::Xor2Iterator it({data, size});
  while (it.next()) samples.push_back({it.t(), it.v_bits(), it.st()});
  if (!it.err().empty()) return 0;
  if (samples.size() != it.num_samples()) __builtin_trap();

  chunkenc::Xor2Encoder enc;
  for (const auto& s : samples) enc.append(s.t, s.v_bits, s.st);
  std::vector<Sample> again;
  chunkenc::Xor2Iterator it2(enc.bytes());
  while (it2.next()) again.push_back({it2.t(), it2.v_bits(), it2.st()});
  if (!it2.err().empty() || again != samples) __builtin_trap();
  return 0;
}
