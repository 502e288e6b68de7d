// tsdb/archive: tar headers, entry name checks, zstd streams, the tar
// reader over damaged input, and restoring to a destination elsewhere.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/archive/backup.h"
#include "tsdb/archive/byte_stream.h"
#include "tsdb/archive/entry_name.h"
#include "tsdb/archive/restore.h"
#include "tsdb/archive/tar.h"
#include "tsdb/archive/zstd_stream.h"
#include "tsdb/base/error.h"
#include "tsdb/block/discover.h"

namespace promblock::archive {
namespace {

constexpr const char* kUlid = "01M89C6ZA9YQXA03EZ5SXF6M3S";

class VectorSink : public ByteSink {
 public:
  void write(std::span<const uint8_t> b) override { data.insert(data.end(), b.begin(), b.end()); }
  std::vector<uint8_t> data;
};

// Hands out its bytes at most `chunk` at a time, like a pipe.
class VectorSource : public ByteSource {
 public:
  explicit VectorSource(std::vector<uint8_t> d, size_t chunk = 1000)
      : data_(std::move(d)), chunk_(chunk) {}
  size_t read(std::span<uint8_t> buf) override {
    size_t n = std::min({buf.size(), chunk_, data_.size() - pos_});
    if (n == 0) return 0;
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::vector<uint8_t> data_;
  size_t chunk_;
  size_t pos_ = 0;
};

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  // Half random, half runs: compressible but not trivially.
  for (size_t i = 0; i < n; ++i) v[i] = (i / 4096) % 2 ? uint8_t(rng()) : uint8_t(i / 100);
  return v;
}

std::vector<uint8_t> read_all(ByteSource& in) {
  std::vector<uint8_t> out;
  uint8_t buf[777];
  for (size_t n; (n = in.read(buf)) > 0;) out.insert(out.end(), buf, buf + n);
  return out;
}

TarHeader file_header(std::string name, uint64_t size) {
  TarHeader h;
  h.name = std::move(name);
  h.size = size;
  h.mtime = 1700000000;
  return h;
}

std::span<const uint8_t, kTarBlockSize> first_block(const std::vector<uint8_t>& v) {
  return std::span<const uint8_t, kTarBlockSize>(v.data(), kTarBlockSize);
}

// ---------------------------------------------------------------- headers

TEST(TarHeader, RoundTrip) {
  TarHeader h = file_header(std::string(kUlid) + "/chunks/000001", 123456789);
  h.mode = 0640;
  h.uid = 1000;
  h.gid = 100;
  auto enc = encode_tar_header(h);
  ASSERT_EQ(enc.size(), kTarBlockSize);
  auto back = parse_tar_header(first_block(enc));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  // What tar(1) checks: the ustar magic and version.
  EXPECT_EQ(std::memcmp(enc.data() + 257,
                        "ustar\0"
                        "00",
                        8),
            0);
}

TEST(TarHeader, DirectoryAndLink) {
  TarHeader d;
  d.name = std::string(kUlid) + "/";
  d.type = tar_type::kDirectory;
  d.mode = 0755;
  auto back = parse_tar_header(first_block(encode_tar_header(d)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, d);
  TarHeader l;
  l.name = "x";
  l.type = tar_type::kSymlink;
  l.linkname = "/etc/passwd";
  back = parse_tar_header(first_block(encode_tar_header(l)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, l);
}

TEST(TarHeader, LongNameUsesPrefixThenPax) {
  // 150 chars with a '/' at 60: fits ustar prefix + name.
  TarHeader h = file_header(std::string(60, 'a') + "/" + std::string(89, 'b'), 5);
  auto enc = encode_tar_header(h);
  EXPECT_EQ(enc.size(), kTarBlockSize);
  EXPECT_EQ(parse_tar_header(first_block(enc))->name, h.name);
  // No '/' to split at: a pax header carries it.
  h.name = std::string(300, 'c');
  enc = encode_tar_header(h);
  EXPECT_GT(enc.size(), kTarBlockSize);
  EXPECT_EQ(enc.size() % kTarBlockSize, 0u);
  VectorSource src(enc);
  std::vector<uint8_t> all = enc;
  all.resize(all.size() + 512 + 2 * 512, 0);  // 5 data bytes padded, then the end marker
  VectorSource src2(all);
  TarReader r(src2, "t");
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, h.name);
  EXPECT_EQ(e->size, 5u);
}

TEST(TarHeader, HugeSizeUsesPax) {
  TarHeader h = file_header("big", uint64_t(20) << 30);  // 20 GiB: beyond 11 octal digits
  auto enc = encode_tar_header(h);
  ASSERT_EQ(enc.size(), 3 * kTarBlockSize);  // pax header, its records, the ustar header
  VectorSource src(enc);
  TarReader r(src, "t");
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->size, h.size);
}

TEST(TarHeader, ZeroBlockIsEnd) {
  std::array<uint8_t, kTarBlockSize> zero{};
  EXPECT_FALSE(parse_tar_header(zero).has_value());
}

TEST(TarHeader, ChecksumMismatch) {
  auto enc = encode_tar_header(file_header("a/b", 1));
  enc[10] ^= 1;  // in the name
  try {
    parse_tar_header(first_block(enc));
    FAIL() << "accepted a bad checksum";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  enc = encode_tar_header(file_header("a/b", 1));
  enc[148] = 'x';  // the checksum field itself
  EXPECT_THROW(parse_tar_header(first_block(enc)), Error);
}

TEST(TarHeader, MalformedNumberAndMagic) {
  auto enc = encode_tar_header(file_header("a", 1));
  // Put a non-octal digit into the size, then fix the checksum.
  auto refix = [](std::vector<uint8_t>& b) {
    std::memset(b.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += b[i];
    std::snprintf(reinterpret_cast<char*>(b.data() + 148), 8, "%06o", sum);
  };
  enc[124] = '9';
  refix(enc);
  EXPECT_THROW(parse_tar_header(first_block(enc)), Error);
  enc = encode_tar_header(file_header("a", 1));
  std::memcpy(enc.data() + 257, "xxxxx", 5);
  refix(enc);
  EXPECT_THROW(parse_tar_header(first_block(enc)), Error);
}

TEST(TarHeader, GnuBase256Size) {
  auto enc = encode_tar_header(file_header("a", 0));
  std::memset(enc.data() + 124, 0, 12);
  enc[124] = 0x80;
  enc[131] = 0x01;  // 1 << 32
  std::memset(enc.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += enc[i];
  std::snprintf(reinterpret_cast<char*>(enc.data() + 148), 8, "%06o", sum);
  EXPECT_EQ(parse_tar_header(first_block(enc))->size, uint64_t(1) << 32);
}

TEST(PaxRecords, ParseAndErrors) {
  TarHeader h;
  apply_pax_records("23 path=some/long/name\n11 size=42\n", h);
  EXPECT_EQ(h.name, "some/long/name");
  EXPECT_EQ(h.size, 42u);
  EXPECT_THROW(apply_pax_records("99 path=x\n", h), Error);   // length past the end
  EXPECT_THROW(apply_pax_records("x path=x\n", h), Error);    // no length
  EXPECT_THROW(apply_pax_records("9 pathx\n", h), Error);     // no '=' and wrong length
  EXPECT_THROW(apply_pax_records("11 size=-1\n", h), Error);  // bad size
}

// ---------------------------------------------------------------- names

struct NameCase {
  const char* name;
  char type;
  bool ok;
  const char* file;  // when ok
};

TEST(EntryName, AcceptRefuseTable) {
  const std::string u = kUlid;
  struct Case {
    std::string name;
    char type;
    bool ok;
    std::string file;
    std::string ulid;  // the block it is attributed to
  };
  const Case cases[] = {
      {u + "/meta.json", '0', true, "meta.json", u},
      {u + "/index", '0', true, "index", u},
      {u + "/index", '\0', true, "index", u},
      {u + "/tombstones", '0', true, "tombstones", u},
      {u + "/chunks/000001", '0', true, "chunks/000001", u},
      {u + "/chunks/000123", '0', true, "chunks/000123", u},
      {u + "/deletion-mark.json", '0', true, "deletion-mark.json", u},
      {u + "/no-compact-mark.json", '0', true, "no-compact-mark.json", u},
      {"./" + u + "/index", '0', true, "index", u},
      {u + "/", '5', true, "", u},
      {u, '5', true, "", u},
      {u + "/chunks/", '5', true, "chunks", u},
      {"./", '5', true, "", ""},
      // refused
      {"../../etc/x", '0', false, "", ""},
      {"/tmp/x", '0', false, "", ""},
      {"/" + u + "/index", '0', false, "", u},
      {u + "/../x", '0', false, "", u},
      {u + "/chunks/../index", '0', false, "", u},
      {u + "/./index", '0', false, "", u},
      {u + "//index", '0', false, "", u},
      {u + "/index/", '0', false, "", u},
      {u + "/foo", '0', false, "", u},
      {u + "/chunks/000000", '0', false, "", u},
      {u + "/chunks/00001", '0', false, "", u},
      {u + "/chunks/0000001", '0', false, "", u},
      {u + "/chunks/00000a", '0', false, "", u},
      {u + "/chunks", '0', false, "", u},
      {u + "/wal/00000001", '0', false, "", u},
      {u + "/meta.json", '2', false, "", u},  // symlink
      {u + "/meta.json", '1', false, "", u},  // hard link
      {u + "/index", '3', false, "", u},      // char device
      {u + "/index", '4', false, "", u},      // block device
      {u + "/index", '6', false, "", u},      // FIFO
      {u + "/index", '7', false, "", u},      // contiguous
      {u + "/index", 'S', false, "", u},      // GNU sparse
      {u + "/chunks/000001/", '5', false, "", u},
      {u + "/other/", '5', false, "", u},
      {"01m89c6za9yqxa03ez5sxf6m3s/index", '0', false, "", ""},  // lower case: not a ULID
      {"blocks/" + u + "/index", '0', false, "", ""},
      {"", '0', false, "", ""},
      {u + std::string("/index\0x", 8), '0', false, "", u},
      {u + ".tmp-for-creation/index", '0', false, "", ""},
  };
  for (const auto& c : cases) {
    TarHeader h;
    h.name = c.name;
    h.type = c.type;
    h.linkname = "/etc/passwd";
    EntryCheck r = check_block_entry(h);
    EXPECT_EQ(r.ok, c.ok) << "name \"" << c.name << "\" type '" << c.type << "': " << r.reason;
    EXPECT_EQ(r.ulid, c.ulid) << c.name;
    if (c.ok) {
      EXPECT_EQ(r.file, c.file) << c.name;
      EXPECT_EQ(r.is_dir, c.type == '5') << c.name;
    } else {
      EXPECT_FALSE(r.reason.empty()) << c.name;
    }
  }
}

// ---------------------------------------------------------------- tar stream

std::vector<uint8_t> small_archive(
    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& files) {
  VectorSink sink;
  TarWriter w(sink);
  for (const auto& [name, data] : files) {
    w.begin_entry(file_header(name, data.size()));
    w.write_data(data);
    w.end_entry();
  }
  w.finish();
  EXPECT_EQ(sink.data.size() % kTarRecordSize, 0u);
  return sink.data;
}

TEST(TarStream, WriteRead) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
      {"a/one", bytes_of("hello")},
      {"a/empty", {}},
      {"a/big", random_bytes(3 * 512 + 7, 1)},
      {"a/exact", random_bytes(1024, 2)},
  };
  auto tar = small_archive(files);
  VectorSource src(tar, 333);
  TarReader r(src, "t");
  for (const auto& [name, data] : files) {
    auto e = r.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->name, name);
    ASSERT_EQ(e->size, data.size());
    // Read only part of some entries: next() skips the rest.
    std::vector<uint8_t> got(data.size());
    size_t n = name == "a/big" ? 100 : got.size();
    size_t total = 0;
    while (total < n) {
      size_t k = r.read(std::span<uint8_t>(got).subspan(total, n - total));
      ASSERT_GT(k, 0u);
      total += k;
    }
    EXPECT_TRUE(std::equal(got.begin(), got.begin() + n, data.begin()));
  }
  EXPECT_FALSE(r.next().has_value());
}

TEST(TarStream, WriterChecksDataSize) {
  VectorSink sink;
  TarWriter w(sink);
  w.begin_entry(file_header("x", 4));
  EXPECT_THROW(w.write_data(bytes_of("12345")), Error);
  w.write_data(bytes_of("12"));
  EXPECT_THROW(w.end_entry(), Error);
}

TEST(TarStream, TruncatedAnywhere) {
  auto tar = small_archive({{"a/one", random_bytes(2000, 3)}, {"a/two", bytes_of("xy")}});
  // Cut inside header 1, data 1, padding 1, header 2, and exactly before the end marker.
  for (size_t cut : {size_t(0), size_t(100), size_t(512), size_t(1500), size_t(2560), size_t(2600),
                     size_t(3072 + 512)}) {
    std::vector<uint8_t> part(tar.begin(), tar.begin() + cut);
    VectorSource src(part);
    TarReader r(src, "t");
    try {
      while (auto e = r.next()) {
        uint8_t buf[4096];
        while (r.read(buf) > 0) {
        }
      }
      FAIL() << "cut at " << cut << " not noticed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
}

TEST(TarStream, CorruptHeaderInStream) {
  auto tar = small_archive({{"a/one", bytes_of("1")}, {"a/two", bytes_of("2")}});
  tar[1024 + 3] ^= 0x20;  // second header's name
  VectorSource src(tar);
  TarReader r(src, "t");
  ASSERT_TRUE(r.next());
  try {
    r.next();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 1024"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}

TEST(TarStream, GnuLongNameApplies) {
  // A GNU 'L' entry names the next entry: the name check sees the real name.
  VectorSink sink;
  TarWriter w(sink);
  std::string target = "../../etc/x";
  TarHeader l = file_header("././@LongLink", target.size() + 1);
  l.type = tar_type::kGnuLongName;
  w.begin_entry(l);
  std::string with_nul = target + '\0';
  w.write_data(bytes_of(with_nul));
  w.end_entry();
  w.begin_entry(file_header(std::string(kUlid) + "/index", 1));
  w.write_data(bytes_of("z"));
  w.end_entry();
  w.finish();
  VectorSource src(sink.data);
  TarReader r(src, "t");
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, target);
  EXPECT_FALSE(check_block_entry(*e).ok);
}

TEST(TarStream, OversizedPaxHeaderRefused) {
  VectorSink sink;
  TarWriter w(sink);
  TarHeader x = file_header("pax", TarReader::kMaxMetaEntrySize + 1);
  x.type = tar_type::kPaxHeader;
  w.begin_entry(x);  // header only: the reader must refuse before reading the data
  VectorSource src(sink.data);
  TarReader r(src, "t");
  EXPECT_THROW(r.next(), Error);
}

// ---------------------------------------------------------------- zstd

TEST(Zstd, RoundTripFrames) {
  auto a = random_bytes(300000, 4), b = random_bytes(5, 5), c = random_bytes(1 << 20, 6);
  VectorSink sink;
  {
    ZstdWriter z(sink, 3);
    z.write(a);
    z.end_frame();
    z.end_frame();  // empty: nothing
    z.write(b);
    z.end_frame();
    z.write(c);
    z.end_frame();
    EXPECT_EQ(z.bytes_in(), a.size() + b.size() + c.size());
    EXPECT_EQ(z.bytes_out(), sink.data.size());
  }
  EXPECT_LT(sink.data.size(), a.size() + b.size() + c.size());
  VectorSource src(sink.data, 4096);
  ZstdReader r(src, "z");
  auto all = read_all(r);
  std::vector<uint8_t> want = a;
  want.insert(want.end(), b.begin(), b.end());
  want.insert(want.end(), c.begin(), c.end());
  EXPECT_EQ(all, want);
}

TEST(Zstd, FrameEnds) {
  VectorSink sink;
  ZstdWriter z(sink);
  z.write(bytes_of("first"));
  z.end_frame();
  z.write(bytes_of("second"));
  z.end_frame();
  VectorSource src(sink.data, 3);
  ZstdReader r(src, "z");
  EXPECT_TRUE(r.at_frame_end());  // nothing read yet
  uint8_t buf[5];
  ASSERT_EQ(read_full(r, buf), 5u);
  EXPECT_TRUE(r.at_frame_end());
  ASSERT_EQ(read_full(r, std::span<uint8_t>(buf, 3)), 3u);
  EXPECT_FALSE(r.at_frame_end());
  ASSERT_EQ(read_full(r, std::span<uint8_t>(buf, 3)), 3u);
  EXPECT_TRUE(r.at_frame_end());
  EXPECT_EQ(r.read(buf), 0u);
}

TEST(Zstd, TruncatedAndCorrupt) {
  auto data = random_bytes(200000, 7);
  VectorSink sink;
  {
    ZstdWriter z(sink);
    z.write(data);
    z.end_frame();
  }
  for (size_t cut : {size_t(1), size_t(10), sink.data.size() / 2, sink.data.size() - 1}) {
    std::vector<uint8_t> part(sink.data.begin(), sink.data.begin() + cut);
    VectorSource src(part);
    ZstdReader r(src, "cut");
    try {
      read_all(r);
      FAIL() << "cut at " << cut << " not noticed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
  // A flipped bit in the content checksum (the last 4 bytes).
  auto bad = sink.data;
  bad[bad.size() - 2] ^= 0x10;
  VectorSource src(bad);
  ZstdReader r(src, "bad");
  EXPECT_THROW(read_all(r), Error);
  // Not zstd at all.
  VectorSource plain(bytes_of("this is not zstd at all, just text"));
  ZstdReader p(plain, "plain");
  EXPECT_THROW(read_all(p), Error);
  // Empty input: a clean, empty stream.
  VectorSource empty(std::vector<uint8_t>{});
  ZstdReader e(empty, "empty");
  EXPECT_TRUE(read_all(e).empty());
}

TEST(Zstd, LevelRange) {
  VectorSink sink;
  EXPECT_THROW(ZstdWriter(sink, 0), Error);
  EXPECT_THROW(ZstdWriter(sink, 20), Error);
}

TEST(TarOverZstd, FrameCutKeepsEarlierEntries) {
  VectorSink sink;
  ZstdWriter z(sink);
  TarWriter w(z);
  auto one = random_bytes(70000, 8);
  w.begin_entry(file_header("a/one", one.size()));
  w.write_data(one);
  w.end_entry();
  z.end_frame();
  size_t first_frame = sink.data.size();
  auto two = random_bytes(90000, 9);
  w.begin_entry(file_header("a/two", two.size()));
  w.write_data(two);
  w.end_entry();
  z.end_frame();
  w.finish();
  z.end_frame();
  std::vector<uint8_t> part(sink.data.begin(), sink.data.begin() + first_frame + 20);
  VectorSource src(part);
  ZstdReader zr(src, "cut");
  TarReader r(zr, "cut");
  auto e = r.next();
  ASSERT_TRUE(e);
  std::vector<uint8_t> got(one.size());
  ASSERT_EQ(read_full(r, got), one.size());
  EXPECT_EQ(got, one);
  r.finish_entry();
  EXPECT_TRUE(zr.at_frame_end());
  EXPECT_THROW(
      {
        while (r.next()) {
          uint8_t buf[4096];
          while (r.read(buf) > 0) {
          }
        }
      },
      Error);
}

}  // namespace
}  // namespace promblock::archive

namespace promblock::archive {
namespace {

TEST(RestoreElsewhere, SkipsWhatTheDestinationHasAndDeliversOneBlockAtATime) {
  testing::TempDir source, scratch, elsewhere;
  std::vector<std::string> ulids;
  for (int64_t t : {0, 10'000, 20'000}) {
    BlockMeta meta;
    meta.min_time = t;
    meta.max_time = t + 1000;
    ulids.push_back(
        std::filesystem::path(
            testing::write_block(source.path(),
                                 {{{{"__name__", "up"}}, {testing::samples_at({t})}}}, meta))
            .filename()
            .string());
  }
  std::sort(ulids.begin(), ulids.end());
  VectorSink archive;
  write_backup(discover_blocks(source.path()), archive, 3, [](const std::string&) {});

  std::vector<std::string> delivered, notices;
  RestoreDestination dest;
  dest.name = "s3://bucket/restored/";
  dest.present = [&](const std::string& ulid) { return ulid == ulids[1]; };
  dest.deliver = [&](const std::string& block_dir) {
    size_t in_scratch = 0;
    for (const auto& e : std::filesystem::directory_iterator(scratch.path()))
      in_scratch += e.is_directory() && e.path().filename().string().size() == 26;
    EXPECT_EQ(in_scratch, 1u) << "scratch holds the block being delivered only";
    std::string name = std::filesystem::path(block_dir).filename().string();
    delivered.push_back(name);
    std::filesystem::rename(block_dir, elsewhere.path() + "/" + name);
  };
  VectorSource in(archive.data);
  auto r = restore_backup(
      in, "b.tar.zst", scratch.path(), [&](const std::string& m) { notices.push_back(m); }, {},
      &dest);
  EXPECT_TRUE(r.ok()) << r.damage;
  EXPECT_EQ(delivered, (std::vector<std::string>{ulids[0], ulids[2]}));
  EXPECT_EQ(r.installed, delivered);
  EXPECT_EQ(r.skipped, (std::vector<std::string>{ulids[1]}));
  EXPECT_NE(std::find(notices.begin(), notices.end(),
                      "block " + ulids[1] + " already present in s3://bucket/restored/; skipped"),
            notices.end());
  EXPECT_EQ(discover_blocks(elsewhere.path()).size(), 2u);

  // A destination that cannot take a block stops the restore with its error.
  testing::TempDir scratch2;
  dest.present = [](const std::string&) { return false; };
  dest.deliver = [](const std::string& dir) { throw Error(dir + ": upload failed"); };
  VectorSource again(archive.data);
  try {
    restore_backup(
        again, "b.tar.zst", scratch2.path(), [](const std::string&) {}, {}, &dest);
    ADD_FAILURE() << "a failed delivery was not thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("upload failed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace promblock::archive
