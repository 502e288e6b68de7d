// The chunk segment reader: the input is segment file 000001 of a chunks
// directory. Opening checks the header; then every chunk found by walking
// the segment from its header on is read (bounds, CRC, encoding) and
// decoded, and a few refs no walk produces (inside the header, at and past
// the end, in a missing segment) are read too.
#include "tests/fuzz/fuzz_util.h"
#include "tsdb/base/error.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/chunks/segment_reader.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = fuzz::scratch_dir() / "chunks";
    std::filesystem::create_directories(d);
    return d;
  }();
  fuzz::write_file(dir / "000001", data, size);
  try {
    chunks::ChunkReader r(dir.string());
    auto bytes = r.segment(0).bytes();
    uint64_t offset = chunks::kSegmentHeaderSize;
    while (offset < bytes.size()) {
      chunks::ChunkReader::Chunk c;
      try {
        c = r.chunk(offset);
      } catch (const Error&) {
        break;  // the walk cannot find the next chunk
      }
      if (c.encoding == uint8_t(chunkenc::Encoding::kXOR)) fuzz::decode_xor(c.data);
      if (c.encoding == uint8_t(chunkenc::Encoding::kHistogram) ||
          c.encoding == uint8_t(chunkenc::Encoding::kFloatHistogram))
        fuzz::decode_histogram(c.data);
      offset = uint64_t(c.data.data() + c.data.size() - bytes.data()) + chunks::kChunkCrcSize;
    }
    for (uint64_t ref :
         {uint64_t(0), uint64_t(7), uint64_t(bytes.size()) - 1, uint64_t(bytes.size()),
          chunks::make_chunk_ref(0, 0xffffffff), chunks::make_chunk_ref(1, 8), UINT64_MAX}) {
      try {
        (void)r.chunk(ref);
      } catch (const Error&) {
      }
    }
    r.release_before(chunks::make_chunk_ref(0, bytes.size()));
  } catch (const Error&) {
  }
  return 0;
}
