// The index reader over a whole file: open it (header, TOC, symbols,
// postings offset table, label indices), then read everything it exposes:
// symbols, label names and values, every postings list (by lookup, by
// iteration and by matching) and every series the postings point to. The
// verifier's independent index walk runs over the same bytes.
#include "index/index_reader.h"
#include "tests/fuzz/fuzz_util.h"
#include "tsdb/base/error.h"
#include "tsdb/verify/index_check.h"

using namespace promblock;

namespace {

void read_all(const std::string& path) {
  index::IndexReader r(path);
  for (uint32_t i = 0; i < r.symbol_count(); ++i) (void)r.symbol(i);
  Labels labels;
  std::vector<index::ChunkMeta> chunks;
  auto read_series = [&](uint32_t ref) {
    try {
      r.series(ref, labels, chunks);
    } catch (const Error&) {  // a bad entry does not stop the others
    }
  };
  for (std::string_view name : r.label_names()) {
    for (std::string_view value : r.label_values(name)) {
      try {
        (void)r.postings(name, value);
      } catch (const Error&) {
      }
    }
    try {
      r.for_each_postings(name, [](std::string_view, const roaring::Roaring&) {});
    } catch (const Error&) {
    }
    try {
      (void)r.postings_matching(name, [](std::string_view v) { return v.size() % 2 == 0; });
    } catch (const Error&) {
    }
  }
  (void)r.label_values("no such name");
  (void)r.postings("no such name", "");
  for (uint32_t ref : r.all_postings()) read_series(ref);
  // Refs no postings list names: the first few slots and the far end.
  for (uint32_t ref : {0u, 1u, 2u, uint32_t(r.size() / 16), UINT32_MAX}) read_series(ref);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = fuzz::write_file(fuzz::scratch_dir() / "index", data, size);
  try {
    read_all(path);
  } catch (const Error&) {
  }
  verify::Report report([](const verify::Problem&) {});
  verify::IndexCheck check(std::span<const uint8_t>(data, size), "index", report);
  check.run([](const verify::IndexSeries&) {});
  report.finish();
  return 0;
}
