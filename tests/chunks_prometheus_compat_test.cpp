// Byte-compatibility with real Prometheus: the blocks under
// tests/fixtures/chunks_small were made by promtool 2.42. Every XOR chunk in
// them, decoded and re-encoded, must come out byte for byte the same, except
// for the one whole zero byte of padding Prometheus 2.42 sometimes appends.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/chunks/segment_reader.h"

namespace promblock {
namespace {

std::string fixture_dir() {
  return std::string(PROMBLOCK_TESTDATA) + "/../tests/fixtures/chunks_small";
}

std::vector<std::string> fixture_chunk_dirs() {
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(fixture_dir())) {
    if (std::filesystem::is_directory(e.path() / "chunks"))
      dirs.push_back((e.path() / "chunks").string());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(ChunksPrometheusCompat, ReencodedXorChunksAreByteIdentical) {
  auto dirs = fixture_chunk_dirs();
  ASSERT_FALSE(dirs.empty()) << "no blocks under " << fixture_dir();
  size_t chunks = 0, samples = 0, with_extra_zero_byte = 0;
  for (const auto& dir : dirs) {
    chunks::ChunkReader reader(dir);
    ASSERT_GE(reader.segment_count(), 1u);
    for (size_t seg = 0; seg < reader.segment_count(); ++seg) {
      // Walk the segment: header, then chunks back to back up to the end.
      auto bytes = reader.segment(seg).bytes();
      uint64_t offset = chunks::kSegmentHeaderSize;
      while (offset < bytes.size()) {
        SCOPED_TRACE(reader.segment(seg).path() + " offset " + std::to_string(offset));
        uint64_t ref = chunks::make_chunk_ref(seg, offset);
        auto chunk = reader.chunk(ref);  // checks the CRC
        enc::Decbuf d(bytes.subspan(offset));
        uint64_t len = d.uvarint();
        ASSERT_EQ(len, chunk.data.size());
        offset += enc::uvarint_size(len) + 1 + len + chunks::kChunkCrcSize;
        ++chunks;
        ASSERT_EQ(chunk.encoding, uint8_t(chunkenc::Encoding::kXOR));

        chunkenc::XorIterator it(chunk.data);
        chunkenc::XorEncoder encoder;
        while (it.next()) encoder.append_bits(it.t(), it.v_bits());
        ASSERT_EQ(it.err(), "");
        ASSERT_EQ(encoder.num_samples(), it.num_samples());
        ASSERT_EQ(size_t(chunk.data[0] << 8 | chunk.data[1]), size_t(encoder.num_samples()));
        samples += encoder.num_samples();

        std::vector<uint8_t> ours(encoder.bytes().begin(), encoder.bytes().end());
        std::vector<uint8_t> theirs(chunk.data.begin(), chunk.data.end());
        if (theirs.size() == ours.size() + 1 && theirs.back() == 0) {
          theirs.pop_back();
          ++with_extra_zero_byte;
        }
        ASSERT_EQ(ours, theirs);
      }
      ASSERT_EQ(offset, bytes.size());
    }
  }
  // Values from promtool's report when the fixture was made (2 blocks).
  EXPECT_EQ(chunks, 44u);
  EXPECT_EQ(samples, 2328u);
  RecordProperty("chunks_with_extra_zero_byte", int(with_extra_zero_byte));
  std::printf("compared %zu chunks (%zu samples); %zu had Prometheus's extra zero byte\n", chunks,
              samples, with_extra_zero_byte);
}

}  // namespace
}  // namespace promblock
