#pragma once
// Prometheus's varbit integers (tsdb/chunkenc/varbit.go), used throughout
// histogram chunks: a prefix of up to eight 1-bits ended by a 0-bit picks a
// payload of 0, 3, 6, 9, 12, 18, 25, 56 or 64 bits. Signed values use the
// same lopsided two's-complement ranges as the XOR timestamps.
#include <cstdint>

#include "tsdb/base/encoding.h"

namespace promblock::chunkenc {

// In the smallest bucket that holds the value, as Prometheus writes it.
void write_varbit_int(enc::BitWriter& w, int64_t v);
void write_varbit_uint(enc::BitWriter& w, uint64_t v);

// False when the stream ends first.
bool read_varbit_int(enc::BitReader& r, int64_t& out);
bool read_varbit_uint(enc::BitReader& r, uint64_t& out);

}  // namespace promblock::chunkenc
