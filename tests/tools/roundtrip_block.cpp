// Test helper: reads a block and writes it back with our writers, every
// chunk decoded and re-encoded by our XOR encoder (never copied), so the
// end-to-end tests can compare the result with the original in Prometheus.
// Usage: roundtrip_block [--xor2] SRC_BLOCK_DIR OUT_PARENT_DIR  (prints the new dir)
// --xor2 writes Prometheus 3.x's XOR2 chunks (encoding 4) instead, with a
// start timestamp on counters (*_total: the series' first sample time - 1 s,
// as a scrape of a counter created just before would carry), for the tests
// of 3.x blocks.
#include <cstdio>
#include <iostream>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor2.h"
#include "tsdb/error.h"

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

int main(int argc, char** argv) {
  bool xor2 = argc == 4 && std::string_view(argv[1]) == "--xor2";
  if (argc != 3 && !xor2) {
    std::cerr << "usage: roundtrip_block [--xor2] SRC_BLOCK_DIR OUT_PARENT_DIR\n";
    return 2;
  }
  if (xor2) ++argv;
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
    std::vector<promblock::chunkenc::Xor2Encoder> encoders2;
    std::vector<promblock::ChunkData> chunks;
    using promblock::chunkenc::Encoding;
    for (uint32_t ref : index.all_postings()) {
      index.series(ref, labels, metas);
      encoders.clear();
      encoders2.clear();
      chunks.clear();
      bool counter =
          !labels.empty() && labels[0].name == "__name__" && ends_with(labels[0].value, "_total");
      int64_t st = 0;
      for (const auto& m : metas) {
        auto c = in.chunks().chunk(m.ref);
        promblock::chunkenc::XorIterator it(c.data);
        auto& enc = encoders.emplace_back();
        auto& enc2 = encoders2.emplace_back();
        while (it.next()) {
          if (counter && st == 0) st = it.t() - 1000;
          if (xor2)
            enc2.append(it.t(), it.v_bits(), st);
          else
            enc.append_bits(it.t(), it.v_bits());
        }
        if (!it.err().empty()) promblock::fail(in.dir(), "bad chunk: " + it.err());
      }
      for (size_t i = 0; i < metas.size(); ++i)
        chunks.push_back(xor2 ? promblock::ChunkData{metas[i].min_time, metas[i].max_time,
                                                     uint8_t(Encoding::kXOR2), encoders2[i].bytes(),
                                                     encoders2[i].num_samples()}
                              : promblock::ChunkData{metas[i].min_time, metas[i].max_time,
                                                     uint8_t(Encoding::kXOR), encoders[i].bytes(),
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
