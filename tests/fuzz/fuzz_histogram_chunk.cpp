// The native and float histogram chunk decoders, with and without start
// timestamps (encodings 2, 3, 5, 6): every sample decoded, copied out and
// formatted as Prometheus's (Float)Histogram.String() does.
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promblock::fuzz::decode_histogram(std::span<const uint8_t>(data, size));
  return 0;
}
