#include "tsdb/verify/verify.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "index/format.h"
#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/mapped_file.h"
#include "tsdb/base/message_format.h"
#include "tsdb/base/ulid.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor2.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/chunks/segment_reader.h"
#include "tsdb/tombstones/tombstones.h"
#include "tsdb/verify/index_check.h"

namespace promblock::verify {

namespace {

namespace fs = std::filesystem;

// The file a library error is about, relative to the block dir, and the
// rest of its message; an error about no file inside the block is
// `fallback`'s, told whole.
std::pair<std::string, std::string> split_error(const Error& e, const std::string& dir,
                                                const std::string& fallback) {
  const std::string prefix = dir + "/";
  if (e.path().size() > prefix.size() && e.path().starts_with(prefix))
    return {e.path().substr(prefix.size()), e.located_detail()};
  return {fallback, e.what()};
}

std::string range_text(int64_t a, int64_t b, bool exclusive_end) {
  std::string text = "[";  // appended piecewise: GCC 12 -Wrestrict misfires on "lit" + string
  text += std::to_string(a);
  text += ", ";
  text += std::to_string(b);
  text += exclusive_end ? ')' : ']';
  return text;
}

// Checks the chunk metas of one series and, through the chunk reader, the
// chunks they point to; counts what meta.json's stats should say.
class ChunkCheck {
 public:
  ChunkCheck(const Options& opt, Report& report, const std::optional<BlockMeta>& meta,
             const chunks::ChunkReader* reader)
      : opt_(opt), report_(report), meta_(meta), reader_(reader) {}

  void check(const IndexSeries& s) {
    num_chunks_ += s.chunks.size();
    // Problems name the series by labels, else (damaged symbols) by ref.
    const std::string who = s.name.empty() ? "series ref " + std::to_string(s.ref) + ": " : "";
    for (size_t i = 0; i < s.chunks.size(); ++i) {
      const index::ChunkMeta& c = s.chunks[i];
      const std::string chunk =
          who + "chunk " + std::to_string(i) + " " + range_text(c.min_time, c.max_time, false);
      if (c.max_time < c.min_time)
        index_error("chunk max time before min time", s, chunk + ": max time before min time");
      if (i > 0) {
        const index::ChunkMeta& p = s.chunks[i - 1];
        if (c.min_time < p.min_time)
          index_error("chunks not sorted", s,
                      chunk + ": not sorted by time (starts before chunk " + std::to_string(i - 1) +
                          " " + range_text(p.min_time, p.max_time, false) + ")");
        else if (c.min_time <= p.max_time)
          index_error("chunks overlap", s,
                      chunk + ": overlaps chunk " + std::to_string(i - 1) + " " +
                          range_text(p.min_time, p.max_time, false));
      }
      if (meta_ && meta_->min_time < meta_->max_time) {
        const std::string block = range_text(meta_->min_time, meta_->max_time, true);
        if (c.min_time < meta_->min_time || c.max_time > meta_->max_time) {
          index_error("chunk outside the block range", s,
                      chunk + ": outside the block's range " + block + " (meta.json)");
        } else if (c.max_time == meta_->max_time) {
          // Prometheus accepts this (it checks chunk max <= block max), but
          // maxTime is exclusive: the last sample is outside the block.
          report_.warning("chunk ends at maxTime", "index", s.name,
                          chunk + ": ends at the block's maxTime " +
                              std::to_string(meta_->max_time) + ", which is exclusive");
        }
      }
      check_data(s, c, who + "chunk " + std::to_string(i));
    }
  }

  uint64_t num_chunks() const { return num_chunks_; }
  uint64_t num_samples() const { return num_float_samples_ + num_histogram_samples_; }
  uint64_t num_float_samples() const { return num_float_samples_; }
  uint64_t num_histogram_samples() const { return num_histogram_samples_; }
  // False when some chunk could not be read, so num_samples() is short.
  bool samples_complete() const { return samples_complete_; }

 private:
  void index_error(std::string_view kind, const IndexSeries& s, std::string what) {
    report_.error(kind, "index", s.name, std::move(what));
  }

  void check_data(const IndexSeries& s, const index::ChunkMeta& c, const std::string& chunk) {
    chunks::ChunkReader::Chunk data;
    if (!read_chunk(s, c, chunk, data)) {
      samples_complete_ = false;
      return;
    }
    const std::string file =
        "chunks/" + chunks::segment_file_name(chunks::ref_segment_index(c.ref));
    uint16_t header_count = chunkenc::header_sample_count(data.encoding, data.data);
    // Counted by kind, as Prometheus 3.6+ states them in meta.json.
    uint64_t& counted =
        chunkenc::is_float_encoding(data.encoding) ? num_float_samples_ : num_histogram_samples_;
    if (header_count == 0)
      report_.warning("empty chunk", file, s.name,
                      chunk + " (ref " + hex64(c.ref) + "): holds no samples");
    if (!opt_.deep) {
      counted += header_count;
      return;
    }
    if (!decode_samples(data, c, s.name, file, chunk, counted)) {
      counted += header_count;
      report_.warning("cannot decode encoding", file, s.name,
                      chunk + " (ref " + hex64(c.ref) + "): cannot decode encoding " +
                          chunkenc::encoding_name(data.encoding) +
                          " yet: its samples were not checked",
                      1);
    }
  }

  // The chunk's bytes, or false after reporting why they cannot be had.
  bool read_chunk(const IndexSeries& s, const index::ChunkMeta& c, const std::string& chunk,
                  chunks::ChunkReader::Chunk& data) {
    if (!reader_) return false;  // the segments could not be opened (already reported)
    uint64_t seg = chunks::ref_segment_index(c.ref);
    const std::string file = "chunks/" + chunks::segment_file_name(seg);
    if (seg >= reader_->segment_count()) {
      // One line per missing segment, not per chunk.
      if (missing_.insert(seg).second)
        report_.error("segment missing", file, s.name,
                      chunk + " (ref " + hex64(c.ref) + "): segment file does not exist (" +
                          std::to_string(reader_->segment_count()) + " segments)");
      return false;
    }
    try {
      data = reader_->chunk(c.ref);
    } catch (const Error& e) {
      // The segment is named by the problem's file: "chunk N: chunk ref 0x…: what".
      std::string what = e.path().ends_with("/" + file) ? e.located_detail() : e.what();
      report_.error("chunk unreadable", file, s.name, chunk + ": " + what);
      return false;
    }
    if (data.data.size() < 2) {
      report_.error("chunk unreadable", file, s.name,
                    chunk + " (ref " + hex64(c.ref) + "): " + std::to_string(data.data.size()) +
                        " bytes, too short for a sample count");
      return false;
    }
    return true;
  }

  // Checks the samples of a chunk of an encoding it can decode; false for
  // any other encoding.
  bool decode_samples(const chunks::ChunkReader::Chunk& data, const index::ChunkMeta& c,
                      const std::string& series, const std::string& file, const std::string& chunk,
                      uint64_t& counted) {
    using chunkenc::Encoding;
    switch (Encoding(data.encoding)) {
      case Encoding::kXOR: {
        chunkenc::XorIterator it(data.data);
        check_samples(it, c, series, file, chunk, counted);
        return true;
      }
      case Encoding::kXOR2: {
        chunkenc::Xor2Iterator it(data.data);
        check_samples(it, c, series, file, chunk, counted);
        return true;
      }
      case Encoding::kHistogram:
      case Encoding::kHistogramST: {
        chunkenc::HistogramIterator it(data.data, chunkenc::histogram_format_of(data.encoding));
        check_samples(it, c, series, file, chunk, counted);
        return true;
      }
      case Encoding::kFloatHistogram:
      case Encoding::kFloatHistogramST: {
        chunkenc::FloatHistogramIterator it(data.data,
                                            chunkenc::histogram_format_of(data.encoding));
        check_samples(it, c, series, file, chunk, counted);
        return true;
      }
      default:
        return false;
    }
  }

  // Decodes every sample: order, count and time range against the index.
  template <class Iterator>
  void check_samples(Iterator& it, const index::ChunkMeta& c, const std::string& series,
                     const std::string& file, const std::string& chunk, uint64_t& counted) {
    uint64_t n = 0;
    int64_t first = 0, last = 0;
    bool ordered = true;
    while (it.next()) {
      if (n == 0) first = it.t();
      if (n > 0 && it.t() <= last && ordered) {
        report_.error("samples not in order", file, series,
                      chunk + " (ref " + hex64(c.ref) + "): sample " + std::to_string(n) + " at " +
                          std::to_string(it.t()) + " not after " + std::to_string(last));
        ordered = false;
      }
      last = it.t();
      ++n;
    }
    counted += n;
    const std::string where = chunk + " (ref " + hex64(c.ref) + ")";
    if (!it.err().empty()) {
      report_.error("chunk undecodable", file, series, where + ": cannot decode: " + it.err());
      return;
    }
    if (n == 0) return;
    if (first != c.min_time || last != c.max_time)
      report_.error("chunk times differ from index", file, series,
                    where + ": samples span " + range_text(first, last, false) +
                        ", the index says " + range_text(c.min_time, c.max_time, false));
  }

  const Options& opt_;
  Report& report_;
  const std::optional<BlockMeta>& meta_;
  const chunks::ChunkReader* reader_;
  std::set<uint64_t> missing_;
  uint64_t num_chunks_ = 0;
  uint64_t num_float_samples_ = 0, num_histogram_samples_ = 0;
  bool samples_complete_ = true;
};

void check_meta(const std::string& dir, const BlockMeta& meta, Report& report) {
  std::string base = fs::path(dir).filename().string();
  if (base.empty()) base = fs::path(dir).parent_path().filename().string();
  if (is_ulid(base)) {
    if (base != meta.ulid)
      report.error("ulid mismatch", "meta.json", "",
                   "ULID " + meta.ulid + " is not the directory name " + base);
  } else {
    report.warning("directory not a ulid", "meta.json", "",
                   "directory name " + base + " is not the block's ULID " + meta.ulid +
                       " (Prometheus loads blocks only from directories named by their ULID)");
  }
  if (meta.min_time >= meta.max_time)
    report.error("empty time range", "meta.json", "",
                 "minTime " + std::to_string(meta.min_time) + " is not before maxTime " +
                     std::to_string(meta.max_time));
  if (meta.level < 1)
    report.error("bad level", "meta.json", "",
                 "compaction level " + std::to_string(meta.level) + " is below 1");
  // Thanos lists the block's files with their sizes: a cheap truncation check.
  if (meta.thanos.is_object() && meta.thanos.contains("files") && meta.thanos["files"].is_array()) {
    for (const auto& f : meta.thanos["files"]) {
      if (!f.is_object() || !f.contains("rel_path") || !f["rel_path"].is_string() ||
          !f.contains("size_bytes") || !f["size_bytes"].is_number_integer())
        continue;
      std::string rel = f["rel_path"].get<std::string>();
      if (rel == "meta.json" || rel.find("..") != std::string::npos || rel.starts_with("/"))
        continue;
      std::error_code ec;
      auto size = fs::file_size(fs::path(dir) / rel, ec);
      if (ec)
        report.error("listed file missing", rel, "",
                     "listed in meta.json thanos.files but cannot be read: " + ec.message());
      else if (int64_t(size) != f["size_bytes"].get<int64_t>())
        report.error("listed file size differs", rel, "",
                     "size " + std::to_string(size) + " bytes, meta.json thanos.files says " +
                         std::to_string(f["size_bytes"].get<int64_t>()));
    }
  }
}

void compare_stat(Report& report, const char* name, uint64_t in_meta, uint64_t counted,
                  const char* what) {
  if (in_meta == counted) return;
  report.error("stats differ", "meta.json", "",
               std::string("stats.") + name + " is " + std::to_string(in_meta) +
                   ", the block holds " + std::to_string(counted) + " " + what);
}

std::unique_ptr<chunks::ChunkReader> open_segments(const std::string& dir, Report& report) {
  try {
    return std::make_unique<chunks::ChunkReader>(dir + "/chunks");
  } catch (const Error& e) {
    auto [file, what] = split_error(e, dir, "chunks");
    report.error("segments unreadable", file, "",
                 what + " (chunk data and sample counts not checked)");
    return nullptr;
  }
}

// meta.json's stats against what the index and chunks hold.
void compare_stats(const BlockStats& st, const IndexCheck& index, const ChunkCheck& chunks,
                   Report& report) {
  compare_stat(report, "numSeries", st.num_series, index.series_count(), "series");
  compare_stat(report, "numChunks", st.num_chunks, chunks.num_chunks(), "chunks");
  if (!chunks.samples_complete()) return;
  compare_stat(report, "numSamples", st.num_samples, chunks.num_samples(), "samples");
  // Written by Prometheus >= 3.6 (zero omitted): checked when either is there.
  if (st.num_float_samples || st.num_histogram_samples) {
    compare_stat(report, "numFloatSamples", st.num_float_samples, chunks.num_float_samples(),
                 "float samples");
    compare_stat(report, "numHistogramSamples", st.num_histogram_samples,
                 chunks.num_histogram_samples(), "histogram samples");
  }
}

void check_tombstones(const std::string& dir, const IndexCheck& index, Report& report) {
  try {
    Tombstones ts = read_tombstones(dir + "/tombstones");
    if (!index.series_complete()) return;
    for (const auto& [ref, intervals] : ts)
      if (ref > UINT32_MAX || !index.series_refs().contains(uint32_t(ref)))
        report.error("tombstone for no series", "tombstones", "",
                     "series ref " + std::to_string(ref) + " is not a series of the index");
  } catch (const Error& e) {
    auto [file, what] = split_error(e, dir, "tombstones");
    report.error("tombstones unreadable", file, "", what);
  }
}

}  // namespace

BlockResult verify_block(const std::string& dir, const Options& opt, Report& report) {
  BlockResult res;
  res.ulid = fs::path(dir).filename().string();
  try {
    res.meta = read_meta(dir);
  } catch (const Error& e) {
    auto [file, what] = split_error(e, dir, "meta.json");
    report.error("meta.json unreadable", file, "", what);
  }
  if (res.meta) {
    res.ulid = res.meta->ulid;
    check_meta(dir, *res.meta, report);
  }
  std::unique_ptr<chunks::ChunkReader> reader = open_segments(dir, report);
  std::optional<MappedFile> index_file;
  try {
    index_file.emplace(dir + "/index");
  } catch (const Error& e) {
    auto [file, what] = split_error(e, dir, "index");
    report.error("index unreadable", file, "", what);
  }
  if (!index_file) return res;

  ChunkCheck chunks(opt, report, res.meta, reader.get());
  IndexCheck index(index_file->bytes(), "index", report);
  index.run([&](const IndexSeries& s) { chunks.check(s); });
  if (res.meta && index.series_complete()) compare_stats(res.meta->stats, index, chunks, report);
  check_tombstones(dir, index, report);
  return res;
}

}  // namespace promblock::verify
