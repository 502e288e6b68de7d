// Test helper: reads a block and writes it back with our writers, every
// chunk decoded and re-encoded by our XOR encoder (never copied), so the
// end-to-end tests can compare the result with the original in Prometheus.
// Usage: roundtrip_block [--st-encodings] SRC_BLOCK_DIR OUT_PARENT_DIR  (prints the new dir)
// --st-encodings writes Prometheus 3.x's encodings with start timestamps
// instead, for the tests of 3.x blocks: XOR2 (4) for floats, a start
// timestamp on counters (*_total: the series' first sample time - 1 s, as a
// scrape of a counter created just before would carry); histogram-ST (5, 6)
// for native histograms, all with a start timestamp 1 s before the series'
// first sample, chunk headers kept.
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "tsdb/base/error.h"
#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/float_histogram_encoder.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor2.h"

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

int main(int argc, char** argv) {
  bool st_encodings = argc == 4 && std::string_view(argv[1]) == "--st-encodings";
  if (argc != 3 && !st_encodings) {
    std::cerr << "usage: roundtrip_block [--st-encodings] SRC_BLOCK_DIR OUT_PARENT_DIR\n";
    return 2;
  }
  if (st_encodings) ++argv;
  try {
    promblock::BlockReader in(argv[1]);
    promblock::BlockMeta meta = in.meta();
    meta.ulid.clear();
    promblock::BlockWriter out(argv[2], meta);
    const auto& index = in.index();
    for (uint32_t i = 0; i < index.symbol_count(); ++i) out.add_symbol(index.symbol(i));

    promblock::Labels labels;
    std::vector<promblock::index::ChunkMeta> metas;
    using promblock::chunkenc::Encoding;
    using promblock::chunkenc::HistogramFormat;
    std::vector<std::vector<uint8_t>> encoded;  // per chunk of the series
    std::vector<promblock::ChunkData> chunks;
    for (uint32_t ref : index.all_postings()) {
      index.series(ref, labels, metas);
      encoded.clear();
      chunks.clear();
      bool counter =
          !labels.empty() && labels[0].name == "__name__" && ends_with(labels[0].value, "_total");
      int64_t st = 0;
      // Histograms get a start timestamp too: 1 s before the series' first sample.
      auto histogram_st = [&](int64_t t) { return st != 0 ? st : (st = t - 1000); };
      for (const auto& m : metas) {
        auto c = in.chunks().chunk(m.ref);
        uint8_t encoding = c.encoding;
        uint32_t n = 0;
        std::span<const uint8_t> bytes;
        promblock::chunkenc::XorEncoder xor_enc;
        promblock::chunkenc::Xor2Encoder xor2_enc;
        std::optional<promblock::chunkenc::HistogramEncoder> hist_enc;
        std::optional<promblock::chunkenc::FloatHistogramEncoder> fhist_enc;
        if (c.encoding == uint8_t(Encoding::kXOR)) {
          promblock::chunkenc::XorIterator it(c.data);
          while (it.next()) {
            if (counter && st == 0) st = it.t() - 1000;
            if (st_encodings)
              xor2_enc.append(it.t(), it.v_bits(), st);
            else
              xor_enc.append_bits(it.t(), it.v_bits());
          }
          if (!it.err().empty()) promblock::fail(in.dir(), "bad chunk: " + it.err());
          encoding = uint8_t(st_encodings ? Encoding::kXOR2 : Encoding::kXOR);
          bytes = st_encodings ? xor2_enc.bytes() : xor_enc.bytes();
          n = st_encodings ? xor2_enc.num_samples() : xor_enc.num_samples();
        } else if (st_encodings && c.encoding == uint8_t(Encoding::kHistogram)) {
          promblock::chunkenc::HistogramIterator it(c.data);
          hist_enc.emplace(promblock::chunkenc::counter_reset_header_of(c.data),
                           HistogramFormat::kWithST);
          promblock::chunkenc::HistogramSample h;
          while (it.next()) {
            it.at(h);
            hist_enc->append(it.t(), h, histogram_st(it.t()));
            ++n;
          }
          if (!it.err().empty()) promblock::fail(in.dir(), "bad chunk: " + it.err());
          encoding = uint8_t(Encoding::kHistogramST);
          bytes = hist_enc->bytes();
        } else if (st_encodings && c.encoding == uint8_t(Encoding::kFloatHistogram)) {
          promblock::chunkenc::FloatHistogramIterator it(c.data);
          fhist_enc.emplace(promblock::chunkenc::counter_reset_header_of(c.data),
                            HistogramFormat::kWithST);
          promblock::chunkenc::FloatHistogramSample h;
          while (it.next()) {
            it.at(h);
            fhist_enc->append(it.t(), h, histogram_st(it.t()));
            ++n;
          }
          if (!it.err().empty()) promblock::fail(in.dir(), "bad chunk: " + it.err());
          encoding = uint8_t(Encoding::kFloatHistogramST);
          bytes = fhist_enc->bytes();
        } else {
          promblock::fail(in.dir(), "chunk encoding " +
                                        promblock::chunkenc::encoding_name(c.encoding) +
                                        " not supported here");
        }
        encoded.emplace_back(bytes.begin(), bytes.end());
        chunks.push_back({m.min_time, m.max_time, encoding, {}, n, {}});
      }
      for (size_t i = 0; i < chunks.size(); ++i) chunks[i].data = encoded[i];
      out.add_series(labels, chunks);
    }
    std::cout << out.commit() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "roundtrip_block: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
