#pragma once
// Value sequences for XOR chunk tests: repeats, small steps, fractions and
// arbitrary bit patterns, so that every XOR window case occurs.
#include <bit>
#include <random>

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

}  // namespace promblock::testing
