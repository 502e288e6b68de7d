#pragma once
// Test helper (header-only, shared by make_bad_block and the unit tests):
// writes a small block whose index is built by hand, so that it can be made
// inconsistent on purpose in ways our IndexWriter refuses to write. Every
// checksum is right; only the named fault is wrong.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "index/format.h"
#include "index/series_codec.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/ulid.h"
#include "tsdb/block/meta.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunks/segment_writer.h"
#include "tsdb/model/labels.h"

namespace promblock::testing {

// Faults write_bad_block knows; "none" writes a healthy block.
inline const std::vector<std::string>& bad_block_faults() {
  static const std::vector<std::string> faults = {
      "none",               // healthy
      "unsorted-series",    // series 1 and 2 swapped
      "duplicate-series",   // series 2 has the labels of series 1
      "unsorted-labels",    // series 0 lists job before __name__
      "chunks-overlap",     // series 0's chunk 1 starts before chunk 0 ends
      "chunk-times-wrong",  // series 0's chunk 0 max time 1 ms early (only --deep sees it)
      "postings-nowhere",   // job="x" postings hold a ref into the middle of an entry
      "postings-missing",   // job="y" postings lack the last series
      "postings-unsorted",  // __name__="a" postings in descending order
      "offsets-unsorted",   // two postings offset table entries swapped
      "symbols-unsorted",   // two symbols swapped (series still resolve correctly)
  };
  return faults;
}

namespace detail {

inline void put_section(enc::Encbuf& out, const enc::Encbuf& body) {
  out.put_be32(uint32_t(body.size()));
  out.put_bytes(body.bytes());
  out.put_be32(enc::crc32c(body.bytes()));
}

inline void pad(enc::Encbuf& out, size_t align) {
  while (out.size() % align != 0) out.put_byte(0);
}

}  // namespace detail

// Writes the block into parent/<new ULID> and returns its directory.
inline std::string write_bad_block(const std::string& parent, const std::string& fault) {
  namespace fs = std::filesystem;
  const auto& known = bad_block_faults();
  if (std::find(known.begin(), known.end(), fault) == known.end())
    throw Error("unknown fault " + fault);

  struct Series {
    Labels labels;
    std::vector<index::ChunkMeta> chunks;
  };
  BlockMeta meta;
  meta.ulid = new_ulid();
  meta.sources = {meta.ulid};
  const std::string dir = parent + "/" + meta.ulid;
  fs::create_directories(dir);

  // Four series of two 10-sample chunks each, 15 s apart.
  constexpr int64_t kStart = 1700000000000, kStep = 15000;
  std::vector<Series> series;
  chunks::ChunkWriter cw(dir + "/chunks");
  for (const char* name : {"a", "b"}) {
    for (const char* job : {"x", "y"}) {
      Series s;
      s.labels = {{"__name__", name}, {"job", job}};
      for (int c = 0; c < 2; ++c) {
        chunkenc::XorEncoder enc;
        int64_t t0 = kStart + c * 10 * kStep;
        for (int i = 0; i < 10; ++i) enc.append(t0 + i * kStep, double(i));
        uint64_t ref = cw.write(uint8_t(chunkenc::Encoding::kXOR), enc.bytes());
        s.chunks.push_back({t0, t0 + 9 * kStep, ref});
        meta.stats.num_samples += 10;
        ++meta.stats.num_chunks;
      }
      series.push_back(std::move(s));
    }
  }
  cw.close();
  meta.stats.num_series = series.size();
  meta.min_time = kStart;
  meta.max_time = kStart + 19 * kStep + 1;

  if (fault == "unsorted-series") std::swap(series[1], series[2]);
  if (fault == "duplicate-series") series[2].labels = series[1].labels;
  if (fault == "unsorted-labels") std::swap(series[0].labels[0], series[0].labels[1]);
  if (fault == "chunks-overlap") series[0].chunks[1].min_time = series[0].chunks[0].max_time;
  if (fault == "chunk-times-wrong") series[0].chunks[0].max_time -= 1;

  // Symbols.
  std::vector<std::string> symbols;
  for (const auto& s : series)
    for (const auto& l : s.labels) symbols.push_back(l.name), symbols.push_back(l.value);
  std::sort(symbols.begin(), symbols.end());
  symbols.erase(std::unique(symbols.begin(), symbols.end()), symbols.end());
  if (fault == "symbols-unsorted") std::swap(symbols[0], symbols[1]);
  auto sym = [&](const std::string& s) {
    return uint32_t(std::find(symbols.begin(), symbols.end(), s) - symbols.begin());
  };

  enc::Encbuf out;
  index::Toc toc;
  out.put_be32(index::kMagic);
  out.put_byte(index::kFormatV2);
  toc.symbols = out.size();
  {
    enc::Encbuf body;
    body.put_be32(uint32_t(symbols.size()));
    for (const auto& s : symbols) body.put_uvarint_str(s);
    detail::put_section(out, body);
  }

  // Series, and postings per label pair from what the series say.
  detail::pad(out, index::kSeriesAlign);
  toc.series = out.size();
  std::map<std::pair<std::string, std::string>, std::vector<uint32_t>> postings;
  std::vector<uint32_t> refs;
  for (const auto& s : series) {
    detail::pad(out, index::kSeriesAlign);
    auto ref = uint32_t(out.size() / index::kSeriesAlign);
    refs.push_back(ref);
    std::vector<index::LabelRefs> lrefs;
    for (const auto& l : s.labels) {
      lrefs.emplace_back(sym(l.name), sym(l.value));
      postings[{l.name, l.value}].push_back(ref);
    }
    enc::Encbuf body;
    index::encode_series_body(body, lrefs, s.chunks);
    out.put_uvarint(body.size());
    out.put_bytes(body.bytes());
    out.put_be32(enc::crc32c(body.bytes()));
  }
  for (auto& [k, v] : postings) std::sort(v.begin(), v.end());
  postings[{"", ""}] = refs;
  std::sort(postings[{"", ""}].begin(), postings[{"", ""}].end());
  if (fault == "postings-nowhere") {
    auto& l = postings[{"job", "x"}];
    l.push_back(refs[0] + 1);
    std::sort(l.begin(), l.end());
  }
  if (fault == "postings-missing") postings[{"job", "y"}].pop_back();
  if (fault == "postings-unsorted") {
    auto& l = postings[{"__name__", "a"}];
    std::reverse(l.begin(), l.end());
  }

  detail::pad(out, index::kListAlign);
  toc.postings = out.size();
  std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>> offsets;
  for (const auto& [k, v] : postings) {
    detail::pad(out, index::kListAlign);
    offsets.emplace_back(k, out.size());
    enc::Encbuf body;
    body.put_be32(uint32_t(v.size()));
    for (uint32_t r : v) body.put_be32(r);
    detail::put_section(out, body);
  }
  if (fault == "offsets-unsorted") std::swap(offsets[1], offsets[2]);
  toc.postings_offset_table = out.size();
  {
    enc::Encbuf body;
    body.put_be32(uint32_t(offsets.size()));
    for (const auto& [k, off] : offsets) {
      body.put_uvarint(2);
      body.put_uvarint_str(k.first);
      body.put_uvarint_str(k.second);
      body.put_uvarint(off);
    }
    detail::put_section(out, body);
  }
  size_t toc_start = out.size();
  for (uint64_t v : {toc.symbols, toc.series, toc.label_indices, toc.label_offset_table,
                     toc.postings, toc.postings_offset_table})
    out.put_be64(v);
  out.put_crc32c_of(toc_start);

  std::ofstream(dir + "/index", std::ios::binary)
      .write(reinterpret_cast<const char*>(out.bytes().data()), std::streamsize(out.size()));
  std::ofstream(dir + "/meta.json", std::ios::binary) << meta_to_json(meta);
  return dir;
}

}  // namespace promblock::testing
