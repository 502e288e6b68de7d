// XOR2 chunks (encoding 4): the encoder must write Prometheus v3.14.0's bytes
// exactly and the iterator must read them back. tests/fixtures/chunks_xor2
// holds cases whose chunks Prometheus's own appender wrote (see its README),
// including the sample sets of Prometheus's own XOR2 tests.
#include <gtest/gtest.h>

#include <bit>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/chunkenc/xor2.h"

namespace promblock::chunkenc {
namespace {

constexpr uint64_t kStale = 0x7ff0000000000002;

struct Sample {
  int64_t t;
  uint64_t v_bits;
  int64_t st;
  bool operator==(const Sample&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Sample& s) {
  char v[20];
  std::snprintf(v, sizeof v, "%016llx", (unsigned long long)s.v_bits);
  return os << "{t " << s.t << " v " << v << " st " << s.st << "}";
}

uint64_t bits(double v) { return std::bit_cast<uint64_t>(v); }

std::vector<uint8_t> encode(const std::vector<Sample>& samples) {
  Xor2Encoder e;
  for (const auto& s : samples) e.append(s.t, s.v_bits, s.st);
  auto b = e.bytes();
  return {b.begin(), b.end()};
}

std::vector<Sample> decode(std::span<const uint8_t> chunk, std::string* err = nullptr) {
  std::vector<Sample> out;
  Xor2Iterator it(chunk);
  while (it.next()) out.push_back({it.t(), it.v_bits(), it.st()});
  if (err) *err = it.err();
  return out;
}

std::string hex(std::span<const uint8_t> b) {
  std::string s;
  char buf[3];
  for (uint8_t x : b) std::snprintf(buf, sizeof buf, "%02x", x), s += buf;
  return s;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> b;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    b.push_back(uint8_t(std::stoul(s.substr(i, 2), 0, 16)));
  return b;
}

// One case of tests/fixtures/chunks_xor2/cases.txt.
struct Case {
  std::string name;
  std::vector<Sample> samples;
  std::vector<uint8_t> chunk;  // empty for the big cases, which keep only a digest
  size_t digest_size = 0;
  uint32_t digest_crc = 0;
};

void load_cases(const std::string& path, std::vector<Case>& cases) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::string line, word;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> word) || word[0] == '#') continue;
    if (word == "case") {
      cases.emplace_back();
      ls >> cases.back().name;
    } else if (word == "s" || word == "gen") {
      Sample s;
      std::string v;
      size_t n = 1;
      int64_t dt = 0;
      if (word == "gen") ls >> n;
      ls >> s.t;
      if (word == "gen") ls >> dt;
      ls >> v >> s.st;
      s.v_bits = std::stoull(v, 0, 16);
      for (size_t i = 0; i < n; ++i, s.t += dt) cases.back().samples.push_back(s);
    } else if (word == "chunk") {
      ls >> word;
      cases.back().chunk = unhex(word);
    } else if (word == "chunk_digest") {
      ls >> cases.back().digest_size >> word;
      cases.back().digest_crc = uint32_t(std::stoul(word, 0, 16));
    }
  }
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = [] {
    std::string dir = std::string(PROMBLOCK_TESTDATA) + "/../tests/fixtures/chunks_xor2/";
    std::vector<Case> all;
    load_cases(dir + "cases.txt", all);
    load_cases(dir + "st_grid.txt", all);  // every ST combination of Prometheus's own test
    return all;
  }();
  return c;
}

TEST(Xor2Fixtures, Loaded) {
  ASSERT_GE(cases().size(), 1100u);
  for (const auto& c : cases()) {
    EXPECT_FALSE(c.samples.empty()) << c.name;
    EXPECT_TRUE(!c.chunk.empty() || c.digest_size > 0) << c.name;
  }
}

TEST(Xor2Fixtures, EncoderWritesGoBytes) {
  for (const auto& c : cases()) {
    auto got = encode(c.samples);
    if (c.chunk.empty()) {
      EXPECT_EQ(got.size(), c.digest_size) << c.name;
      EXPECT_EQ(enc::crc32c(got), c.digest_crc) << c.name;
    } else {
      EXPECT_EQ(hex(got), hex(c.chunk)) << c.name;
    }
  }
}

TEST(Xor2Fixtures, IteratorReadsGoChunks) {
  for (const auto& c : cases()) {
    auto chunk = c.chunk.empty() ? encode(c.samples) : c.chunk;
    std::string err;
    auto got = decode(chunk, &err);
    EXPECT_EQ(err, "") << c.name;
    ASSERT_EQ(got.size(), c.samples.size()) << c.name;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], c.samples[i]) << c.name << " sample " << i;
  }
}

TEST(Xor2Fixtures, TruncatedChunksFailCleanly) {
  for (const auto& c : cases()) {
    if (c.chunk.empty()) continue;
    for (size_t n = 0; n < c.chunk.size(); ++n) {
      std::string err;
      auto got = decode(std::span(c.chunk).first(n), &err);
      // Whatever was read before the end is right; the end itself is an error
      // (the last byte always holds bits of the last sample).
      ASSERT_NE(err, "") << c.name << " cut to " << n;
      ASSERT_LT(got.size(), c.samples.size()) << c.name;
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], c.samples[i]) << c.name << " cut to " << n;
    }
  }
}

TEST(Xor2Fixtures, BitFlipsNeverCrash) {
  size_t failed = 0, decoded = 0;
  for (const auto& c : cases()) {
    if (c.chunk.empty()) continue;
    auto chunk = c.chunk;
    for (size_t bit = 0; bit < 8 * chunk.size(); ++bit) {
      chunk[bit / 8] ^= uint8_t(0x80 >> bit % 8);
      std::string err;
      auto got = decode(chunk, &err);
      Xor2Iterator it(chunk);
      if (err.empty()) {
        ASSERT_EQ(got.size(), it.num_samples()) << c.name << " bit " << bit;
        ++decoded;
      } else {
        ++failed;
      }
      chunk[bit / 8] ^= uint8_t(0x80 >> bit % 8);
    }
  }
  EXPECT_GT(failed, 0u);
  EXPECT_GT(decoded, 0u);
}

TEST(Xor2Fixtures, PaddingIsIgnored) {
  for (const auto& c : cases()) {
    if (c.chunk.empty()) continue;
    auto chunk = c.chunk;
    chunk.push_back(0);
    std::string err;
    EXPECT_EQ(decode(chunk, &err), c.samples) << c.name;
    EXPECT_EQ(err, "") << c.name;
  }
}

// Worked out by hand from the format: count 3, no ST; t 1000 as zigzag
// varint d0 0f; 1.0; delta 1000 as uvarint e8 07; value unchanged '0';
// dod 0 and value changed '10', new window '1', leading 1, 11 significant
// bits, the XOR 0x7ff >> 52 ... padded.
TEST(Xor2Chunk, HandDecodedVector) {
  std::vector<Sample> s = {{1000, bits(1.0), 0}, {2000, bits(1.0), 0}, {3000, bits(2.0), 0}};
  EXPECT_EQ(hex(encode(s)), "000300d00f3ff0000000000000e8075097ffc0");
  EXPECT_EQ(decode(unhex("000300d00f3ff0000000000000e8075097ffc0")), s);
}

TEST(Xor2Chunk, EmptyChunkIsHeaderOnly) {
  Xor2Encoder e;
  EXPECT_EQ(hex(e.bytes()), "000000");
  std::string err;
  EXPECT_TRUE(decode(e.bytes(), &err).empty());
  EXPECT_EQ(err, "");
}

TEST(Xor2Chunk, ShortHeaderIsAnError) {
  for (size_t n = 0; n < 3; ++n) {
    std::vector<uint8_t> b(n, 0);
    Xor2Iterator it(b);
    EXPECT_FALSE(it.next());
    EXPECT_NE(it.err(), "");
  }
}

TEST(Xor2Chunk, StHeader) {
  auto header = [](const std::vector<Sample>& s) { return encode(s)[2]; };
  EXPECT_EQ(header({{1, 0, 0}, {2, 0, 0}}), 0x00);
  EXPECT_EQ(header({{1, 0, 5}, {2, 0, 5}}), 0x80);
  EXPECT_EQ(header({{1, 0, 5}, {2, 0, 6}}), 0x81);
  EXPECT_EQ(header({{1, 0, 0}, {2, 0, 0}, {3, 0, 0}, {4, 0, 7}}), 0x03);
  // From sample 127 on Prometheus writes ST deltas, ST or not.
  std::vector<Sample> s;
  for (int i = 0; i < 127; ++i) s.push_back({i * 10, 0, 0});
  EXPECT_EQ(header(s), 0x00);
  s.push_back({1270, 0, 0});
  EXPECT_EQ(header(s), 0x7f);
  EXPECT_EQ(decode(encode(s)), s);
}

TEST(Xor2Chunk, FullChunkThrows) {
  Xor2Encoder e;
  for (int i = 0; i < 65535; ++i) e.append(i, bits(1.0));
  EXPECT_EQ(e.num_samples(), 65535);
  EXPECT_THROW(e.append(65535, bits(1.0)), Error);
  EXPECT_EQ(decode(e.bytes()).size(), 65535u);
}

TEST(Xor2Chunk, InvalidWindowIsAnError) {
  // Sample 1 with a new window of 31 leading zeros and 63 significant bits.
  Xor2Encoder e;
  e.append(0, 0);
  auto b = std::vector<uint8_t>(e.bytes().begin(), e.bytes().end());
  b[1] = 2;
  // t delta 0 (one byte), then '110', leading 11111, significant 111111.
  enc::BitWriter w;
  w.write_bits(0, 8);
  w.write_bits(0b110, 3);
  w.write_bits(31, 5);
  w.write_bits(63, 6);
  w.write_bits(0, 63);
  for (uint8_t x : w.bytes()) b.push_back(x);
  std::string err;
  EXPECT_EQ(decode(b, &err).size(), 1u);
  EXPECT_NE(err.find("invalid XOR window"), std::string::npos) << err;
}

TEST(Xor2Chunk, OverlongVarintIsAnError) {
  std::vector<uint8_t> b = {0, 1, 0};
  for (int i = 0; i < 10; ++i) b.push_back(0xff);
  for (int i = 0; i < 8; ++i) b.push_back(0);
  std::string err;
  EXPECT_TRUE(decode(b, &err).empty());
  EXPECT_NE(err.find("varint"), std::string::npos) << err;
}

// Round trips beyond the fixtures: random series of every shape.
TEST(Xor2Chunk, RandomRoundTrips) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    size_t n = 1 + rng() % 300;
    std::vector<Sample> s;
    int64_t t = int64_t(rng() % 2000000000000) - 1000000, st = rng() % 2 ? t - 5 : 0;
    uint64_t v = rng();
    for (size_t i = 0; i < n; ++i) {
      switch (rng() % 6) {
        case 0:
          v = rng();
          break;
        case 1:
          v ^= rng() & 0xffff;
          break;
        case 2:
          v = kStale;
          break;
        default:
          break;
      }
      if (rng() % 10 == 0) st = rng() % 3 == 0 ? 0 : t - int64_t(rng() % 100000);
      s.push_back({t, v, st});
      if (v == kStale) v = rng();
      switch (rng() % 4) {
        case 0:
          t += 15000;
          break;
        case 1:
          t += 15000 + int64_t(rng() % 200) - 100;
          break;
        case 2:
          t = int64_t(uint64_t(t) + (rng() >> (rng() % 64)));
          break;
        default:
          break;
      }
    }
    std::string err;
    ASSERT_EQ(decode(encode(s), &err), s) << "round " << round;
    ASSERT_EQ(err, "");
  }
}

}  // namespace
}  // namespace promblock::chunkenc
