// Varints: Decbuf reads without a bound check per byte where ten bytes are
// left and with one near the end; both must agree with Go's binary.Uvarint
// (as written out below) on every length, at every distance from the end,
// and on overlong and truncated input. Encbuf writes what Go's PutUvarint
// and PutVarint write.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "tsdb/base/encoding.h"

namespace promblock::enc {
namespace {

// Go's binary.Uvarint, byte by byte: nullopt where it reports an error.
std::optional<std::pair<uint64_t, size_t>> go_uvarint(std::span<const uint8_t> b) {
  uint64_t x = 0;
  for (size_t i = 0; i < b.size() && i < kMaxVarintBytes; ++i) {
    if (i == kMaxVarintBytes - 1 && b[i] > 1) return std::nullopt;  // overflow
    x |= uint64_t(b[i] & 0x7f) << (7 * i);
    if (b[i] < 0x80) return std::pair(x, i + 1);
  }
  return std::nullopt;  // truncated, or more than ten bytes
}

// Reads the complete uvarint `bytes` with `slack` bytes after it in the
// buffer (continuation bytes, which must not be read), as Go would.
void expect_as_go(const std::vector<uint8_t>& bytes, size_t slack) {
  auto want = go_uvarint(bytes);
  ASSERT_TRUE(want);
  std::vector<uint8_t> buf = bytes;
  buf.resize(bytes.size() + slack, 0x80);
  Decbuf d(buf);
  EXPECT_EQ(d.uvarint(), want->first);
  ASSERT_TRUE(d.ok()) << d.err();
  EXPECT_EQ(d.remaining(), slack) << "read " << want->second << " bytes";
}

TEST(Varint, EveryLengthAtEveryDistanceFromTheEnd) {
  std::vector<uint64_t> values = {
      0, 1, 0x7f, 0x80, 0x3fff, 0x4000, UINT64_MAX, UINT64_MAX >> 1, uint64_t(1) << 63};
  for (int bits = 1; bits <= 64; ++bits) {
    values.push_back((uint64_t(1) << (bits - 1)) - 1);
    values.push_back(uint64_t(1) << (bits - 1));
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t v : values) {
    Encbuf e;
    e.put_uvarint(v);
    std::vector<uint8_t> bytes(e.bytes().begin(), e.bytes().end());
    ASSERT_EQ(bytes.size(), uvarint_size(v));
    for (size_t slack = 0; slack <= kMaxVarintBytes + 1; ++slack) {
      SCOPED_TRACE("value " + std::to_string(v) + ", slack " + std::to_string(slack));
      expect_as_go(bytes, slack);
      // And as Decbuf reads what follows: the next varint right after it.
      std::vector<uint8_t> two = bytes;
      two.insert(two.end(), bytes.begin(), bytes.end());
      two.resize(two.size() + slack, 0);
      Decbuf d(two);
      EXPECT_EQ(d.uvarint(), v);
      EXPECT_EQ(d.uvarint(), v);
      EXPECT_TRUE(d.ok());
      EXPECT_EQ(d.remaining(), slack);
    }
  }
}

TEST(Varint, OverlongAndTruncatedFailAsGosDoes) {
  // Ten bytes whose last carries more than the 64th bit: overflow, at the
  // end of the buffer and with room after it.
  std::vector<uint8_t> overflow(9, 0xff);
  overflow.push_back(0x02);
  // Eleven bytes: nine continuation bytes, then one with the top bit set.
  std::vector<uint8_t> eleven(10, 0x80);
  eleven.push_back(0x00);
  // Truncated: continuation bytes to the end.
  for (const auto& bad : {overflow, eleven, std::vector<uint8_t>{0x80},
                          std::vector<uint8_t>(5, 0xff), std::vector<uint8_t>{}}) {
    for (size_t room : {size_t(0), size_t(16)}) {
      std::vector<uint8_t> buf = bad;
      // Room after the bytes where they are complete but overlong (else
      // the room's bytes would end the varint).
      if (room && (bad == overflow || bad == eleven)) buf.resize(bad.size() + room, 0);
      Decbuf d(buf);
      d.uvarint();
      EXPECT_FALSE(d.ok()) << "bytes " << bad.size() << ", room " << room;
      EXPECT_EQ(d.remaining(), 0u) << "a failed read consumes the rest";
    }
  }
  // The largest value, ten bytes, last one 1: fine, with or without room.
  std::vector<uint8_t> largest(9, 0xff);
  largest.push_back(0x01);
  for (size_t room : {size_t(0), size_t(16)}) {
    std::vector<uint8_t> buf = largest;
    buf.resize(largest.size() + room, 0);
    Decbuf d(buf);
    EXPECT_EQ(d.uvarint(), UINT64_MAX);
    EXPECT_TRUE(d.ok());
    EXPECT_EQ(d.remaining(), room);
  }
}

TEST(Varint, SignedAsGosZigZag) {
  // Go: PutVarint(-1) = 0x01, PutVarint(1) = 0x02, PutVarint(-64) = 0x7f,
  // PutVarint(64) = 0x80 0x01.
  const std::vector<std::pair<int64_t, std::vector<uint8_t>>> cases = {
      {0, {0x00}}, {-1, {0x01}}, {1, {0x02}}, {-64, {0x7f}}, {64, {0x80, 0x01}}};
  for (const auto& [v, want] : cases) {
    Encbuf e;
    e.put_varint(v);
    EXPECT_EQ(std::vector<uint8_t>(e.bytes().begin(), e.bytes().end()), want) << v;
  }
  for (int64_t v :
       {INT64_MIN, INT64_MIN + 1, int64_t(-1234567), int64_t(0), int64_t(987654321), INT64_MAX}) {
    Encbuf e;
    e.put_varint(v);
    for (size_t room : {size_t(0), size_t(12)}) {
      std::vector<uint8_t> buf(e.bytes().begin(), e.bytes().end());
      buf.resize(buf.size() + room, 0);
      Decbuf d(buf);
      EXPECT_EQ(d.varint(), v) << "room " << room;
      EXPECT_TRUE(d.ok());
    }
  }
}

}  // namespace
}  // namespace promblock::enc
