// Tests of the structured Error (tsdb/base/error.h): its fields, the one-line
// message built from them, and the fields set by readers and used by verify.
#include "tsdb/base/error.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/tools/bad_block.h"
#include "tsdb/chunks/segment_reader.h"
#include "tsdb/verify/verify.h"

namespace promblock {
namespace {

using testing::TempDir;

TEST(ErrorTest, FieldsMakeTheMessage) {
  Error e("/d/index", "series 5", "checksum mismatch (CRC32-C)");
  EXPECT_STREQ(e.what(), "/d/index: series 5: checksum mismatch (CRC32-C)");
  EXPECT_EQ(e.path(), "/d/index");
  EXPECT_EQ(e.section(), "series 5");
  EXPECT_EQ(e.detail(), "checksum mismatch (CRC32-C)");
  EXPECT_EQ(e.located_detail(), "series 5: checksum mismatch (CRC32-C)");
}

TEST(ErrorTest, FailNamesThePathAndOptionallyASection) {
  try {
    fail("/d/meta.json", "not a JSON object");
    FAIL() << "fail returned";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/d/meta.json: not a JSON object");
    EXPECT_EQ(e.path(), "/d/meta.json");
    EXPECT_EQ(e.section(), "");
    EXPECT_EQ(e.located_detail(), "not a JSON object");
  }
  try {
    fail("/d/index", "symbol table", "too short");
    FAIL() << "fail returned";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/d/index: symbol table: too short");
    EXPECT_EQ(e.section(), "symbol table");
    EXPECT_EQ(e.detail(), "too short");
  }
}

TEST(ErrorTest, FailErrnoAddsTheSystemError) {
  errno = ENOENT;
  try {
    fail_errno("/d/x", "cannot open");
    FAIL() << "fail_errno returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "/d/x");
    EXPECT_EQ(e.detail(), std::string("cannot open: ") + std::strerror(ENOENT));
    EXPECT_EQ(std::string(e.what()), "/d/x: " + e.detail());
  }
}

TEST(ErrorTest, PlainMessageHasNoPath) {
  Error e("merge: no input blocks");
  EXPECT_STREQ(e.what(), "merge: no input blocks");
  EXPECT_EQ(e.path(), "");
  EXPECT_EQ(e.section(), "");
  EXPECT_EQ(e.detail(), "merge: no input blocks");
}

// The first chunk of a test block's first segment, damaged.
std::string block_with_damaged_chunk(const std::string& parent) {
  std::string dir = testing::write_bad_block(parent, "none");
  auto seg = testing::read_bytes(dir + "/chunks/000001");
  seg[8 + 1 + 1 + 2] ^= 0xff;  // header, length, encoding, sample count: data
  testing::write_bytes(dir + "/chunks/000001", seg);
  return dir;
}

TEST(ErrorTest, ChunkReaderNamesTheChunkRefAsSection) {
  TempDir tmp;
  std::string dir = block_with_damaged_chunk(tmp.path());
  chunks::ChunkReader reader(dir + "/chunks");
  try {
    reader.chunk(8);  // segment 0, right after the header
    FAIL() << "damaged chunk read";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), dir + "/chunks/000001");
    EXPECT_TRUE(e.section().starts_with("chunk ref 0x")) << e.section();
    EXPECT_FALSE(e.detail().empty());
    EXPECT_EQ(std::string(e.what()), e.path() + ": " + e.section() + ": " + e.detail());
  }
}

std::vector<verify::Problem> verify_problems(const std::string& dir) {
  std::vector<verify::Problem> out;
  verify::Report report([&](const verify::Problem& p) { out.push_back(p); });
  verify::verify_block(dir, verify::Options{}, report);
  report.finish();
  return out;
}

TEST(ErrorTest, VerifyReportsTheErrorsFileAndRest) {
  TempDir tmp;
  std::string dir = block_with_damaged_chunk(tmp.path());
  bool found = false;
  for (const auto& p : verify_problems(dir)) {
    if (p.file != "chunks/000001") continue;
    found = true;
    // "chunk 0: chunk ref 0x…: what", the block's path left out.
    EXPECT_TRUE(p.what.starts_with("chunk 0: chunk ref 0x")) << p.what;
    EXPECT_EQ(p.what.find(dir), std::string::npos) << p.what;
  }
  EXPECT_TRUE(found);
}

TEST(ErrorTest, VerifyNamesAMissingFileByItsPathInTheBlock) {
  TempDir tmp;
  std::string dir = testing::write_bad_block(tmp.path(), "none");
  std::filesystem::remove(dir + "/index");
  auto problems = verify_problems(dir);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file, "index");
  EXPECT_TRUE(problems[0].what.starts_with("cannot open: ")) << problems[0].what;
}

}  // namespace
}  // namespace promblock
