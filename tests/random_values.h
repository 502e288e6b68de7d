#pragma once
// Value sequences for XOR chunk tests: repeats, small steps, fractions and
// arbitrary bit patterns, so that every XOR window case occurs; and whole
// series that also reach every timestamp bucket.
#include <bit>
#include <cstdint>
#include <random>
#include <vector>

namespace promblock::testing {

inline double random_value_step(std::mt19937_64& rng, double v) {
  switch (rng() % 4) {
    case 0:
      return v;
    case 1:
      return v + 1;
    case 2:
      return double(rng() % 1000) / 7.0;
    default:
      return std::bit_cast<double>(rng());  // any bit pattern
  }
}

// A float sample as the XOR codecs take it.
struct XorSample {
  int64_t t;
  uint64_t v_bits;
  bool operator==(const XorSample&) const = default;
};

// Timestamp and value patterns that reach every bucket and window case.
inline std::vector<XorSample> random_xor_samples(std::mt19937_64& rng, size_t n) {
  std::vector<XorSample> s;
  int64_t t = int64_t(rng() % 4000000000000) - 1000000000000;
  double v = double(rng() % 100);
  int64_t step = 1 + int64_t(rng() % 60000);
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 8) {
      case 0:
        t += step;
        break;
      case 1:
        t += step + int64_t(rng() % 41) - 20;
        break;
      case 2:
        t += int64_t(rng() % (1 << 21)) - (1 << 20);
        break;
      case 3:
        t += int64_t(rng() % (1ull << 40));
        break;
      case 4:
        t = int64_t(rng());
        break;  // any, wrapping deltas included
      default:
        t += step;
        break;
    }
    switch (rng() % 3) {
      case 0:
        v = std::bit_cast<double>(uint64_t(0x7ff0000000000002));  // stale marker
        break;
      case 1:
        v = -v * 1e300;
        break;
      default:
        v = testing::random_value_step(rng, v);
        break;
    }
    s.push_back({t, std::bit_cast<uint64_t>(v)});
  }
  return s;
}

}  // namespace promblock::testing
