#pragma once
// The native histogram chunks (encoding 2) of testdata/histograms, written
// by a real Prometheus 2.42, for tests that compare with its bytes.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::testing {

inline std::vector<std::vector<uint8_t>> fixture_chunks(chunkenc::Encoding wanted) {
  namespace fs = std::filesystem;
  std::vector<std::vector<uint8_t>> out;
  for (const auto& e :
       fs::recursive_directory_iterator(std::string(PROMBLOCK_TESTDATA) + "/histograms")) {
    if (e.path().parent_path().filename() != "chunks") continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::vector<uint8_t> seg((std::istreambuf_iterator<char>(f)), {});
    enc::Decbuf d(std::span<const uint8_t>(seg).subspan(8));  // magic, version, padding
    while (d.remaining() > 0) {
      uint64_t len = d.uvarint();
      uint8_t encoding = d.byte();
      auto data = d.bytes(len);
      d.skip(4);  // CRC
      if (encoding == uint8_t(wanted)) out.emplace_back(data.begin(), data.end());
    }
  }
  return out;
}

}  // namespace promblock::testing
