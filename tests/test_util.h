#pragma once
// Scaffolding shared by the unit tests: a scratch directory, whole-file
// byte helpers, and a writer for small in-memory blocks of float series.
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tsdb/block/block_reader.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/model/labels.h"

namespace promblock::testing {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "promblock-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// "v105" from ("v", 105). Built by append: GCC 12 warns (-Wrestrict) on
// "literal" + std::string.
inline std::string numbered(const char* prefix, int n) {
  return std::string(prefix).append(std::to_string(n));
}

using Samples = std::vector<std::pair<int64_t, double>>;

// A float series as a test writes it: one XOR chunk per entry of `chunks`.
struct TestSeries {
  Labels labels;
  std::vector<Samples> chunks;
};

// Samples whose values equal their timestamps, for tests that only care
// about times.
inline Samples samples_at(const std::vector<int64_t>& times) {
  Samples out;
  for (int64_t t : times) out.emplace_back(t, double(t));
  return out;
}

// Writes a block of `series` (sorted here) under `parent` and returns its
// directory. `meta` supplies the time range and any Thanos section.
inline std::string write_block(const std::string& parent, std::vector<TestSeries> series,
                               BlockMeta meta) {
  std::sort(series.begin(), series.end(), [](const TestSeries& a, const TestSeries& b) {
    return labels_less(a.labels, b.labels);
  });
  std::vector<std::string> symbols;
  for (const auto& s : series)
    for (const auto& l : s.labels) symbols.push_back(l.name), symbols.push_back(l.value);
  std::sort(symbols.begin(), symbols.end());
  symbols.erase(std::unique(symbols.begin(), symbols.end()), symbols.end());
  BlockWriter w(parent, std::move(meta));
  for (const auto& s : symbols) w.add_symbol(s);
  for (const auto& s : series) {
    std::deque<chunkenc::XorEncoder> encoders;  // chunk bytes live until add_series
    std::vector<ChunkData> chunks;
    for (const auto& samples : s.chunks) {
      auto& e = encoders.emplace_back();
      for (auto [t, v] : samples) e.append(t, v);
      chunks.push_back({samples.front().first,
                        samples.back().first,
                        1,
                        e.bytes(),
                        uint32_t(samples.size()),
                        {}});
    }
    w.add_series(s.labels, chunks);
  }
  return w.commit();
}

inline std::string write_block(const std::string& parent, std::vector<TestSeries> series,
                               int64_t min_time, int64_t max_time) {
  BlockMeta meta;
  meta.min_time = min_time;
  meta.max_time = max_time;
  return write_block(parent, std::move(series), std::move(meta));
}

// Resident kB of this process's mappings of `path` (/proc/self/smaps).
inline long resident_kb_of(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool ours = false;
  long kb = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(' ') > line.find('-'))
      ours = line.size() >= path.size() &&
             line.compare(line.size() - path.size(), path.size(), path) == 0;
    else if (ours && line.rfind("Rss:", 0) == 0)
      kb += std::stol(line.substr(4));
  }
  return kb;
}

}  // namespace promblock::testing
