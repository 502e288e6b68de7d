// Test helper for tests/e2e/test_reference_xor2.py: reads sample sets on
// stdin, one sample per line as "t value_bits_hex st", each set ended by a
// line "end", and prints one line per set: the chunk promblock's XOR2
// encoder writes, in hex.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "tsdb/chunkenc/xor2.h"

int main() {
  using promblock::chunkenc::Xor2Encoder;
  Xor2Encoder enc;
  std::string line;
  size_t line_no = 0;
  try {
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line == "end") {
        for (uint8_t b : enc.bytes()) std::printf("%02x", b);
        std::printf("\n");
        enc = Xor2Encoder();
        continue;
      }
      std::istringstream in(line);
      long long t, st;
      std::string v;
      if (!(in >> t >> v >> st)) {
        std::fprintf(stderr, "xor2_codec: line %zu: want \"t value_bits_hex st\": %s\n", line_no,
                     line.c_str());
        return 2;
      }
      enc.append(t, std::stoull(v, nullptr, 16), st);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xor2_codec: line %zu: %s\n", line_no, e.what());
    return 1;
  }
  return 0;
}
