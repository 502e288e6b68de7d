// Test helper: copies a block with some label names and values renamed, so
// the end-to-end tests get blocks with names Prometheus 2.42's tools cannot
// write (UTF-8 metric and label names: dots, spaces, non-ASCII, even bytes
// that are not UTF-8). Every name or value equal to OLD becomes NEW; series
// are re-sorted (labels by name, series by labels) and their chunks copied
// byte for byte.
// Usage: rename_symbols SRC_BLOCK_DIR OUT_PARENT_DIR OLD_HEX=NEW_HEX...
// (strings hex-encoded, so any bytes pass; prints the new block's dir)
#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tsdb/base/error.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/chunk.h"

namespace {

std::string unhex(std::string_view hex) {
  if (hex.size() % 2) throw std::runtime_error("odd hex length: " + std::string(hex));
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

struct Series {
  promblock::Labels labels;
  std::vector<promblock::index::ChunkMeta> metas;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: rename_symbols SRC_BLOCK_DIR OUT_PARENT_DIR OLD_HEX=NEW_HEX...\n";
    return 2;
  }
  try {
    std::map<std::string, std::string> renames;
    for (int i = 3; i < argc; ++i) {
      std::string_view arg = argv[i];
      size_t eq = arg.find('=');
      if (eq == std::string_view::npos) throw std::runtime_error("bad rename " + std::string(arg));
      renames[unhex(arg.substr(0, eq))] = unhex(arg.substr(eq + 1));
    }
    auto rename = [&](const std::string& s) {
      auto it = renames.find(s);
      return it == renames.end() ? s : it->second;
    };

    promblock::BlockReader in(argv[1]);
    promblock::BlockMeta meta = in.meta();
    meta.ulid.clear();
    const auto& index = in.index();
    std::vector<Series> all;
    std::set<std::string> symbols;
    promblock::Labels labels;
    std::vector<promblock::index::ChunkMeta> metas;
    for (uint32_t ref : index.all_postings()) {
      index.series(ref, labels, metas);
      Series s;
      for (const auto& l : labels) s.labels.push_back({rename(l.name), rename(l.value)});
      std::sort(s.labels.begin(), s.labels.end(),
                [](const auto& a, const auto& b) { return a.name < b.name; });
      for (const auto& l : s.labels) symbols.insert(l.name), symbols.insert(l.value);
      s.metas = metas;
      all.push_back(std::move(s));
    }
    std::sort(all.begin(), all.end(), [](const Series& a, const Series& b) {
      return promblock::labels_less(a.labels, b.labels);
    });

    promblock::BlockWriter out(argv[2], meta);
    for (const auto& sym : symbols) out.add_symbol(sym);
    std::vector<promblock::ChunkData> chunks;
    for (const auto& s : all) {
      chunks.clear();
      for (const auto& m : s.metas) {
        auto c = in.chunks().chunk(m.ref);
        chunks.push_back({m.min_time, m.max_time, c.encoding, c.data,
                          promblock::chunkenc::header_sample_count(c.encoding, c.data), c.crc});
      }
      out.add_series(s.labels, chunks);
    }
    std::cout << out.commit() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "rename_symbols: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
