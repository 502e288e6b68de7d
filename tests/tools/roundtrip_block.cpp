// Test helper: reads a block and writes it back with our writers, every
// chunk decoded and re-encoded by our XOR encoder (never copied), so the
// end-to-end tests can compare the result with the original in Prometheus.
// Usage: roundtrip_block SRC_BLOCK_DIR OUT_PARENT_DIR  (prints the new dir)
#include <cstdio>
#include <iostream>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/error.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: roundtrip_block SRC_BLOCK_DIR OUT_PARENT_DIR\n";
    return 2;
  }
  try {
    promblock::BlockReader in(argv[1]);
    promblock::BlockMeta meta = in.meta();
    meta.ulid.clear();
    promblock::BlockWriter out(argv[2], meta);
    const auto& index = in.index();
    for (uint32_t i = 0; i < index.symbol_count(); ++i) out.add_symbol(index.symbol(i));

    promblock::Labels labels;
    std::vector<promblock::index::ChunkMeta> metas;
    std::vector<promblock::chunkenc::XorEncoder> encoders;
    std::vector<promblock::ChunkData> chunks;
    for (uint32_t ref : index.all_postings()) {
      index.series(ref, labels, metas);
      encoders.clear();
      chunks.clear();
      for (const auto& m : metas) {
        auto c = in.chunks().chunk(m.ref);
        promblock::chunkenc::XorIterator it(c.data);
        auto& enc = encoders.emplace_back();
        while (it.next()) enc.append_bits(it.t(), it.v_bits());
        if (!it.err().empty()) promblock::fail(in.dir(), "bad chunk: " + it.err());
      }
      for (size_t i = 0; i < metas.size(); ++i)
        chunks.push_back({metas[i].min_time, metas[i].max_time,
                          uint8_t(promblock::chunkenc::Encoding::kXOR), encoders[i].bytes(),
                          encoders[i].num_samples()});
      out.add_series(labels, chunks);
    }
    std::cout << out.commit() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "roundtrip_block: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
