#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunks/segment_format.h"
#include "tsdb/chunks/segment_reader.h"
#include "tsdb/chunks/segment_writer.h"

namespace promblock::chunks {
namespace {

namespace fs = std::filesystem;

class ChunkSegments : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("promblock_chunks_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string chunks_dir() const { return (dir_ / "chunks").string(); }
  std::string segment_path(int i) const {
    return (dir_ / "chunks" / segment_file_name(i)).string();
  }

  // Flips one byte of a file in place.
  static void corrupt(const std::string& path, uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(offset));
    char c;
    f.get(c);
    f.seekp(std::streamoff(offset));
    f.put(char(c ^ 0x5a));
  }

  static std::string error_of(const ChunkReader& r, uint64_t ref) {
    try {
      r.chunk(ref);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

std::vector<uint8_t> xor_chunk(int seed, int n) {
  chunkenc::XorEncoder e;
  std::mt19937 rng(seed);
  int64_t t = 1700000000000 + seed;
  for (int i = 0; i < n; ++i) e.append(t += 15000 + int(rng() % 30), double(rng() % 1000) / 8);
  return {e.bytes().begin(), e.bytes().end()};
}

TEST_F(ChunkSegments, RoundTripOneSegment) {
  std::vector<std::vector<uint8_t>> datas;
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir());
    for (int i = 0; i < 300; ++i) {
      datas.push_back(xor_chunk(i, 1 + i % 120));
      refs.push_back(w.write(1, datas.back()));
    }
    w.close();
    EXPECT_EQ(w.segment_count(), 1u);
  }
  EXPECT_EQ(refs[0], kSegmentHeaderSize);  // segment index 0, right after the header
  ChunkReader r(chunks_dir());
  EXPECT_EQ(r.segment_count(), 1u);
  EXPECT_EQ(r.total_size(), fs::file_size(segment_path(0)));
  for (size_t i = 0; i < refs.size(); ++i) {
    auto c = r.chunk(refs[i]);
    EXPECT_EQ(c.encoding, 1);
    ASSERT_EQ(std::vector<uint8_t>(c.data.begin(), c.data.end()), datas[i]);
  }
  // Header bytes: magic, version, three bytes of padding.
  std::ifstream f(segment_path(0), std::ios::binary);
  std::vector<uint8_t> head(8);
  f.read(reinterpret_cast<char*>(head.data()), 8);
  EXPECT_EQ(head, (std::vector<uint8_t>{0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0}));
}

TEST_F(ChunkSegments, ACrcGivenIsTheOneWrittenAndReadBack) {
  auto data = xor_chunk(7, 50);
  uint32_t crc = chunk_crc(1, data);
  uint64_t with, without, wrong;
  {
    ChunkWriter w(chunks_dir());
    with = w.write(1, data, crc);
    without = w.write(1, data);
    wrong = w.write(1, data, crc ^ 1);  // trusted as given: a reader must catch it
    w.close();
  }
  ChunkReader r(chunks_dir());
  EXPECT_EQ(r.chunk(with).crc, crc);
  EXPECT_EQ(r.chunk(without).crc, crc);
  try {
    r.chunk(wrong);
    ADD_FAILURE() << "a wrong CRC read back without an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST_F(ChunkSegments, LinkedSegmentsComeFirstAndKeepTheirChunksInPlace) {
  auto a = xor_chunk(1, 40), b = xor_chunk(2, 60);
  const std::string other = (dir_ / "other").string();
  uint64_t in_other;
  {
    ChunkWriter w(other);
    in_other = w.write(1, a);
    w.close();
  }
  uint64_t written;
  {
    ChunkWriter w(chunks_dir());
    auto linked = w.link_segment(other + "/" + segment_file_name(0));
    ASSERT_TRUE(linked.has_value());
    EXPECT_EQ(*linked, 0u);
    written = w.write(1, b);
    EXPECT_THROW(w.link_segment(other + "/" + segment_file_name(0)), Error)
        << "links come before the first chunk written";
    w.close();
  }
  EXPECT_EQ(ref_segment_index(written), 1u) << "written chunks go into segments after the links";
  struct stat st {};
  ASSERT_EQ(::stat(segment_path(0).c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u) << "a link, not a copy";
  ChunkReader r(chunks_dir());
  ASSERT_EQ(r.segment_count(), 2u);
  auto got_a = r.chunk(in_other);  // the other writer's ref, unchanged
  EXPECT_EQ(std::vector<uint8_t>(got_a.data.begin(), got_a.data.end()), a);
  auto got_b = r.chunk(written);
  EXPECT_EQ(std::vector<uint8_t>(got_b.data.begin(), got_b.data.end()), b);
}

TEST_F(ChunkSegments, OpeningKeepsNoPageResident) {
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir());
    for (int i = 0; i < 2000; ++i) refs.push_back(w.write(1, xor_chunk(i, 120)));
    w.close();
  }
  ASSERT_GT(fs::file_size(segment_path(0)), 256u * 1024);
  ChunkReader r(chunks_dir());
  const std::string path = fs::canonical(segment_path(0)).string();
  EXPECT_LE(promblock::testing::resident_kb_of(path), 4) << "kB resident after the header check";
  EXPECT_EQ(r.chunk(refs[1999]).encoding, 1);  // still readable
}

TEST_F(ChunkSegments, EachSegmentIsReleasedAsReadingAdvancesInIt) {
  // Two segments of about 1 MB read side by side, as a merge reads a block
  // whose segments were linked from several blocks: reading on in one
  // segment must not release the other for good.
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir(), 1 << 20);
    for (int i = 0; i < 8000; ++i) refs.push_back(w.write(1, xor_chunk(i, 120)));
    w.close();
  }
  ChunkReader r(chunks_dir());
  ASSERT_GE(r.segment_count(), 2u);
  auto in_segment = [&](uint64_t s) {
    std::vector<uint64_t> out;
    for (uint64_t ref : refs)
      if (ref >> 32 == s) out.push_back(ref);
    return out;
  };
  const auto first = in_segment(0), second = in_segment(1);
  const std::string path0 = fs::canonical(segment_path(0)).string();
  auto read_all = [&](const std::vector<uint64_t>& rs) {
    for (uint64_t ref : rs) ASSERT_EQ(r.chunk(ref).encoding, 1);
  };
  read_all(first);
  read_all(second);
  r.release_before(second.back());
  read_all(first);  // segment 0 again, after segment 1 was read to its end
  ASSERT_GT(promblock::testing::resident_kb_of(path0), 512);
  r.release_before(first.back());
  EXPECT_LE(promblock::testing::resident_kb_of(path0), 80) << "kB of segment 0 still resident";
}

TEST_F(ChunkSegments, WindowsGiveTheChunksTheMappingGives) {
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir());
    for (int i = 0; i < 200; ++i) refs.push_back(w.write(1, xor_chunk(i, 1 + i % 120)));
    w.close();
  }
  ChunkReader r(chunks_dir());
  auto same = [&](const ChunkReader::Chunk& a, const ChunkReader::Chunk& b) {
    return a.encoding == b.encoding && std::vector<uint8_t>(a.data.begin(), a.data.end()) ==
                                           std::vector<uint8_t>(b.data.begin(), b.data.end());
  };
  // A window over chunks 50..99, ending inside chunk 99's record.
  ChunkReader::Window w;
  r.read_window(0, refs[50], refs[99] + 3, w);
  EXPECT_EQ(w.begin, refs[50]);
  EXPECT_EQ(w.bytes.size(), refs[99] + 3 - refs[50]);
  const uint8_t* lo = w.bytes.data();
  const uint8_t* hi = lo + w.bytes.size();
  for (size_t i = 0; i < refs.size(); ++i) {
    auto c = r.chunk(refs[i], w);
    ASSERT_TRUE(same(c, r.chunk(refs[i]))) << i;
    bool from_window = c.data.data() >= lo && c.data.data() < hi;
    EXPECT_EQ(from_window, i >= 50 && i < 99) << i;  // the rest: from the mapping
  }
  // Clipped to the segment's end; the last chunk is read from the window.
  r.read_window(0, refs[199], refs[199] + (1 << 20), w);
  EXPECT_EQ(w.begin + w.bytes.size(), fs::file_size(segment_path(0)));
  EXPECT_TRUE(same(r.chunk(refs[199], w), r.chunk(refs[199])));
  EXPECT_EQ(r.chunk(refs[199], w).data.data() - w.bytes.data(),
            r.chunk(refs[199]).data.data() - r.segment(0).bytes().data() - int64_t(refs[199]));
}

TEST_F(ChunkSegments, AReusedWindowHoldsExactlyTheBytesOfEachRead) {
  {
    ChunkWriter w(chunks_dir());
    for (int i = 0; i < 200; ++i) w.write(1, xor_chunk(i, 1 + i % 120));
    w.close();
  }
  const std::string path = segment_path(0);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  ASSERT_GT(file.size(), 8000u);
  ChunkReader r(chunks_dir());
  ChunkReader::Window w;
  auto holds = [&](uint64_t begin, uint64_t end) {
    r.read_window(0, begin, end, w);
    return w.begin == begin && std::vector<uint8_t>(w.bytes.begin(), w.bytes.end()) ==
                                   std::vector<uint8_t>(file.begin() + begin, file.begin() + end);
  };
  // Small, then larger than it has room for (grown without the old bytes),
  // then small again (its memory kept for the next batch's read).
  EXPECT_TRUE(holds(8, 108));
  EXPECT_TRUE(holds(500, 7500));
  const size_t room = w.bytes.capacity();
  EXPECT_TRUE(holds(1000, 1010));
  EXPECT_EQ(w.bytes.capacity(), room);
  // Growing by a little takes room for more than that: batches' windows
  // vary in size, and each growth is memory touched anew.
  EXPECT_TRUE(holds(0, room + 1));
  EXPECT_GE(w.bytes.capacity(), 2 * room);
}

TEST_F(ChunkSegments, EachChunkComesFromTheWindowOverItsOwnSegment) {
  // Segments of ~4 kB, as a block linked from several blocks has several.
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir(), 4096);
    for (int i = 0; i < 100; ++i) refs.push_back(w.write(1, xor_chunk(i, 1 + i % 60)));
    w.close();
  }
  ChunkReader r(chunks_dir());
  ASSERT_GE(r.segment_count(), 3u);
  // Windows over all of segments 2 and 0 (in that order), none over 1.
  std::vector<ChunkReader::Window> windows(2);
  r.read_window(2, 0, 1 << 20, windows[0]);
  r.read_window(0, 0, 1 << 20, windows[1]);
  auto inside = [](const ChunkReader::Chunk& c, const ChunkReader::Window& w) {
    return c.data.data() >= w.bytes.data() && c.data.data() < w.bytes.data() + w.bytes.size();
  };
  size_t from_window = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    auto c = r.chunk(refs[i], windows);
    auto want = r.chunk(refs[i]);
    ASSERT_EQ(std::vector<uint8_t>(c.data.begin(), c.data.end()),
              std::vector<uint8_t>(want.data.begin(), want.data.end()))
        << i;
    uint64_t segment = refs[i] >> 32;
    EXPECT_EQ(inside(c, windows[0]), segment == 2) << i;
    EXPECT_EQ(inside(c, windows[1]), segment == 0) << i;
    from_window += segment != 1;
  }
  EXPECT_GT(from_window, 0u);
  // No windows at all: the mapping.
  EXPECT_EQ(r.chunk(refs[0], std::span<const ChunkReader::Window>()).data.data(),
            r.chunk(refs[0]).data.data());
}

TEST_F(ChunkSegments, WindowsCheckWhatTheMappingChecks) {
  uint64_t ref, last;
  {
    ChunkWriter w(chunks_dir());
    w.write(1, xor_chunk(1, 10));
    ref = w.write(1, xor_chunk(2, 10));
    last = w.write(1, xor_chunk(3, 100));
    w.close();
  }
  corrupt(segment_path(0), (ref & 0xffffffff) + 5);
  ChunkReader r(chunks_dir());
  ChunkReader::Window w;
  r.read_window(0, 8, 1 << 20, w);
  std::string err;
  try {
    r.chunk(ref, w);
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_EQ(err, error_of(r, ref));
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  // A file cut short after it was opened: the read names it, on one line.
  uint64_t size = fs::file_size(segment_path(0));
  fs::resize_file(segment_path(0), last);
  try {
    r.read_window(0, last, size, w);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(segment_path(0) + ": file shrank to"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST_F(ChunkSegments, SmallCapMakesSeveralSegments) {
  const uint64_t cap = 1000;
  std::vector<std::vector<uint8_t>> datas;
  std::vector<uint64_t> refs;
  {
    ChunkWriter w(chunks_dir(), cap);
    for (int i = 0; i < 200; ++i) {
      datas.push_back(xor_chunk(i, 1 + i % 40));
      refs.push_back(w.write(uint8_t(1 + i % 3), datas.back()));
    }
    // A chunk larger than the cap still gets written, alone in a segment.
    datas.push_back(std::vector<uint8_t>(3000, 0xab));
    refs.push_back(w.write(1, datas.back()));
    datas.push_back(xor_chunk(1, 2));
    refs.push_back(w.write(1, datas.back()));
    w.close();
  }
  ChunkReader r(chunks_dir());
  ASSERT_GT(r.segment_count(), 5u);
  for (size_t s = 0; s < r.segment_count(); ++s) {
    uint64_t size = fs::file_size(segment_path(int(s)));
    if (s != r.segment_count() - 2) {
      EXPECT_LE(size, cap) << "segment " << s;
    }
  }
  EXPECT_EQ(refs.back() >> 32, r.segment_count() - 1);
  EXPECT_EQ(refs.back() & 0xffffffff, kSegmentHeaderSize);
  for (size_t i = 0; i < refs.size(); ++i) {
    auto c = r.chunk(refs[i]);
    EXPECT_EQ(c.encoding, i < 200 ? 1 + i % 3 : 1);
    ASSERT_EQ(std::vector<uint8_t>(c.data.begin(), c.data.end()), datas[i]);
  }
  // Cut rule: a segment is cut as soon as the next chunk, counted with a
  // 5-byte length field, would not fit.
  for (size_t i = 1; i < 200; ++i) {
    if ((refs[i] >> 32) == (refs[i - 1] >> 32)) continue;
    uint64_t prev_end = fs::file_size(segment_path(int(refs[i - 1] >> 32)));
    EXPECT_GT(prev_end + 5 + 1 + datas[i].size() + 4, cap);
  }
}

TEST_F(ChunkSegments, NoChunksNoSegments) {
  ChunkWriter w(chunks_dir());
  w.close();
  ChunkReader r(chunks_dir());
  EXPECT_EQ(r.segment_count(), 0u);
  EXPECT_EQ(r.total_size(), 0u);
  EXPECT_THROW(r.chunk(8), Error);
}

TEST_F(ChunkSegments, CorruptedChecksum) {
  uint64_t ref;
  {
    ChunkWriter w(chunks_dir());
    w.write(1, xor_chunk(1, 10));
    ref = w.write(1, xor_chunk(2, 10));
    w.close();
  }
  corrupt(segment_path(0), (ref & 0xffffffff) + 5);
  ChunkReader r(chunks_dir());
  EXPECT_NO_THROW(r.chunk(8));
  std::string err = error_of(r, ref);
  EXPECT_NE(err.find(segment_path(0) + ": chunk ref 0x"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST_F(ChunkSegments, BadMagicAndVersion) {
  {
    ChunkWriter w(chunks_dir());
    w.write(1, xor_chunk(1, 10));
    w.close();
  }
  corrupt(segment_path(0), 4);
  try {
    ChunkReader r(chunks_dir());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported chunk segment version"), std::string::npos)
        << e.what();
  }
  corrupt(segment_path(0), 4);
  corrupt(segment_path(0), 0);
  try {
    ChunkReader r(chunks_dir());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(segment_path(0) + ": wrong magic"), std::string::npos)
        << e.what();
  }
}

TEST_F(ChunkSegments, RefsOutOfRange) {
  uint64_t ref;
  {
    ChunkWriter w(chunks_dir());
    ref = w.write(1, xor_chunk(1, 10));
    w.close();
  }
  ChunkReader r(chunks_dir());
  uint64_t size = r.total_size();
  EXPECT_NE(error_of(r, uint64_t(1) << 32 | 8).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of(r, size).find("outside the segment"), std::string::npos);
  EXPECT_NE(error_of(r, 0xffffffff).find("outside the segment"), std::string::npos);
  EXPECT_NE(error_of(r, 3).find("outside the segment"), std::string::npos);
  // Offsets inside the segment but not at a chunk: any error, never a crash.
  for (uint64_t off = 8; off < size; ++off) {
    if (off == ref) continue;
    EXPECT_NE(error_of(r, off), "") << off;
  }
}

TEST_F(ChunkSegments, TruncatedSegment) {
  uint64_t ref;
  {
    ChunkWriter w(chunks_dir());
    w.write(1, xor_chunk(1, 10));
    ref = w.write(1, xor_chunk(2, 100));
    w.close();
  }
  uint64_t size = fs::file_size(segment_path(0));
  for (uint64_t keep : {size - 1, size - 4, ref + 3}) {
    fs::resize_file(segment_path(0), keep);
    ChunkReader r(chunks_dir());
    EXPECT_NE(error_of(r, ref).find("past the end"), std::string::npos) << keep << error_of(r, ref);
  }
  fs::resize_file(segment_path(0), ref + 1);  // inside the 2-byte length field
  EXPECT_NE(error_of(ChunkReader(chunks_dir()), ref).find("bad chunk length"), std::string::npos);
  fs::resize_file(segment_path(0), 5);
  EXPECT_THROW(ChunkReader r(chunks_dir()), Error);
}

TEST_F(ChunkSegments, GapInSegmentNumbers) {
  {
    ChunkWriter w(chunks_dir(), 100);
    for (int i = 0; i < 5; ++i) w.write(1, xor_chunk(i, 20));
    w.close();
    ASSERT_GE(w.segment_count(), 3u);
  }
  fs::remove(segment_path(1));
  try {
    ChunkReader r(chunks_dir());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("000002 is missing"), std::string::npos) << e.what();
  }
}

TEST_F(ChunkSegments, UnknownEncodingIsAnError) {
  uint64_t ref;
  {
    ChunkWriter w(chunks_dir());
    ref = w.write(0xff, xor_chunk(1, 3));
    w.close();
  }
  ChunkReader r(chunks_dir());
  EXPECT_NE(error_of(r, ref).find("unsupported chunk encoding 255"), std::string::npos);
}

TEST_F(ChunkSegments, MissingDirectory) { EXPECT_THROW(ChunkReader r(chunks_dir()), Error); }

TEST_F(ChunkSegments, WriteErrorNamesTheFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  // A segment file that is a symlink to /dev/full fails with ENOSPC.
  fs::create_directories(chunks_dir());
  fs::create_symlink("/dev/full", segment_path(0));
  try {
    ChunkWriter w(chunks_dir());
    w.write(1, xor_chunk(1, 3));
    w.close();
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(segment_path(0)), std::string::npos) << what;
    EXPECT_NE(what.find("No space left on device"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace promblock::chunks
