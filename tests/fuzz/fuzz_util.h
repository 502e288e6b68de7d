#pragma once
// Helpers the fuzz targets share: a scratch directory for readers that take
// a path, and decoding a chunk the way the block readers do.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor.h"

namespace promblock::fuzz {

// A directory made once per process, removed at a normal exit (a crash
// leaves it behind in $TMPDIR, next to the crash input).
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      std::string tmpl =
          (std::filesystem::temp_directory_path() / "promblock-fuzz-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) std::abort();
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes the input to `path` (replacing it) and returns the path.
inline std::string write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) std::abort();  // the fuzzer's own environment is broken
  return path.string();
}

// Decodes every sample of an XOR chunk; returns the number decoded.
inline size_t decode_xor(std::span<const uint8_t> chunk) {
  chunkenc::XorIterator it(chunk);
  size_t n = 0;
  while (it.next()) {
    (void)it.t();
    (void)it.v();
    ++n;
  }
  return n;
}

// Decodes and formats every sample of a histogram chunk (Iterator:
// HistogramIterator or FloatHistogramIterator, Sample to match).
template <class Iterator, class Sample>
inline size_t decode_histogram_as(std::span<const uint8_t> chunk,
                                  chunkenc::HistogramFormat format) {
  Iterator it(chunk, format);
  Sample h;
  size_t n = 0;
  while (it.next()) {
    it.at(h);
    (void)it.st();
    (void)chunkenc::format_histogram(h);
    ++n;
  }
  return n;
}

// All four histogram encodings (2, 3 and their start-timestamp variants 5,
// 6) share the layout and most of the header: every input is decoded as
// each of them.
inline size_t decode_histogram(std::span<const uint8_t> chunk) {
  size_t n = 0;
  for (auto format : {chunkenc::HistogramFormat::kPlain, chunkenc::HistogramFormat::kWithST}) {
    n += decode_histogram_as<chunkenc::HistogramIterator, chunkenc::HistogramSample>(chunk, format);
    n += decode_histogram_as<chunkenc::FloatHistogramIterator, chunkenc::FloatHistogramSample>(
        chunk, format);
  }
  return n;
}

}  // namespace promblock::fuzz
