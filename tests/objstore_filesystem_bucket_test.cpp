// The FILESYSTEM bucket (a directory) and the prefix wrapper around a bucket.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/test_util.h"
#include "tsdb/base/error.h"
#include "tsdb/objstore/filesystem_bucket.h"
#include "tsdb/objstore/prefixed_bucket.h"

namespace fs = std::filesystem;

namespace promblock::objstore {
namespace {

std::string read_text(const std::string& path) {
  auto bytes = testing::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_text(const std::string& path, const std::string& text) {
  testing::write_bytes(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

std::vector<std::string> names(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(o.name);
  return out;
}

TEST(FilesystemBucket, ListsByPrefixSortedWithSizes) {
  testing::TempDir dir;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;  // download()'s default argument is the interface's
  b.put("01B/meta.json", "{}");
  b.put("01A/chunks/000001", "12345");
  b.put("01A/index", "123");
  b.put("top", "");
  auto all = b.list("");
  EXPECT_EQ(names(all),
            (std::vector<std::string>{"01A/chunks/000001", "01A/index", "01B/meta.json", "top"}));
  EXPECT_EQ(all[0].size, 5u);
  EXPECT_EQ(names(b.list("01A/")), (std::vector<std::string>{"01A/chunks/000001", "01A/index"}));
  EXPECT_EQ(names(b.list("01A/ch")), (std::vector<std::string>{"01A/chunks/000001"}));
  EXPECT_EQ(names(b.list("01")).size(), 3u);
  EXPECT_TRUE(b.list("nothing/").empty());
  EXPECT_EQ(b.list_dirs(""), (std::vector<std::string>{"01A/", "01B/"}));
  EXPECT_EQ(b.list_dirs("01A/"), (std::vector<std::string>{"01A/chunks/"}));
}

TEST(FilesystemBucket, ListingSkipsWritesInProgress) {
  testing::TempDir dir;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  b.put("a/x", "1");
  write_text(dir.file("a/.promblock-tmp-1-0-y"), "partial");
  EXPECT_EQ(names(b.list("")), (std::vector<std::string>{"a/x"}));
}

TEST(FilesystemBucket, GetAndDownload) {
  testing::TempDir dir, local;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  b.put("a/b", "hello");
  EXPECT_EQ(b.get("a/b"), "hello");
  EXPECT_FALSE(b.get("a/missing"));
  b.download("a/b", local.file("out"), 5);
  EXPECT_EQ(read_text(local.file("out")), "hello");
  b.download("a/b", local.file("out2"));
  EXPECT_EQ(read_text(local.file("out2")), "hello");
  try {
    b.download("a/b", local.file("bad"), 6);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), dir.path() + "/a/b");
    EXPECT_NE(std::string(e.what()).find("expected 6"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(local.file("bad")));
  EXPECT_THROW(b.download("a/missing", local.file("m")), Error);
  EXPECT_EQ(fs::directory_iterator(local.path())->path().filename().string().substr(0, 3), "out");
}

TEST(FilesystemBucket, PutAndUploadReplaceWhole) {
  testing::TempDir dir, local;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  b.put("o", "first version");
  b.put("o", "2nd");
  EXPECT_EQ(b.get("o"), "2nd");
  write_text(local.file("f"), "from a file");
  b.upload("d/e/o", local.file("f"));
  EXPECT_EQ(b.get("d/e/o"), "from a file");
  EXPECT_THROW(b.upload("x", local.file("absent")), Error);
  EXPECT_FALSE(b.get("x"));
  // Nothing but the objects is left behind: no temporary files.
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 2u);
}

TEST(FilesystemBucket, CreateIfAbsent) {
  testing::TempDir dir;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  EXPECT_EQ(b.create_if_absent("locks/x", "mine"), CreateResult::kCreated);
  EXPECT_EQ(b.create_if_absent("locks/x", "theirs"), CreateResult::kExists);
  EXPECT_EQ(b.get("locks/x"), "mine");
  EXPECT_EQ(names(b.list("")), (std::vector<std::string>{"locks/x"}));
}

TEST(FilesystemBucket, RemoveDropsEmptyDirectories) {
  testing::TempDir dir;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  b.put("a/b/c", "1");
  b.put("a/d", "2");
  b.remove("a/b/c");
  EXPECT_FALSE(fs::exists(dir.file("a/b")));
  EXPECT_TRUE(fs::exists(dir.file("a")));
  b.remove("a/d");
  EXPECT_FALSE(fs::exists(dir.file("a")));
  EXPECT_TRUE(fs::exists(dir.path()));
  b.remove("never/was");  // absent: fine
}

TEST(FilesystemBucket, RefusesNamesLeavingTheDirectory) {
  testing::TempDir dir;
  FilesystemBucket fsb(dir.path());
  Bucket& b = fsb;
  EXPECT_THROW(b.put("../escape", "x"), Error);
  EXPECT_THROW(b.get("a/../../etc/passwd"), Error);
  EXPECT_THROW(b.put("/abs", "x"), Error);
  EXPECT_THROW(b.remove(""), Error);
  EXPECT_FALSE(fs::exists(fs::path(dir.path()).parent_path() / "escape"));
}

TEST(FilesystemBucket, MissingDirectoryFails) {
  EXPECT_THROW(FilesystemBucket("/nonexistent/promblock-bucket"), Error);
}

TEST(PrefixedBucket, NamesAreRelativeToThePrefix) {
  testing::TempDir dir, local;
  PrefixedBucket pb(std::make_unique<FilesystemBucket>(dir.path()), "/tenant/a/");
  Bucket& b = pb;
  EXPECT_EQ(b.describe(), dir.path() + "/tenant/a");
  b.put("01A/meta.json", "{}");
  b.put("01B/index", "ix");
  EXPECT_TRUE(fs::exists(dir.file("tenant/a/01A/meta.json")));
  EXPECT_EQ(names(b.list("")), (std::vector<std::string>{"01A/meta.json", "01B/index"}));
  EXPECT_EQ(b.list_dirs(""), (std::vector<std::string>{"01A/", "01B/"}));
  EXPECT_EQ(b.get("01B/index"), "ix");
  EXPECT_EQ(b.create_if_absent("01B/index", "x"), CreateResult::kExists);
  b.download("01B/index", local.file("ix"), 2);
  EXPECT_EQ(read_text(local.file("ix")), "ix");
  write_text(local.file("up"), "up");
  b.upload("u", local.file("up"));
  EXPECT_EQ(b.get("u"), "up");
  b.remove("u");
  EXPECT_FALSE(b.get("u"));
  // Objects beside the prefix are not seen.
  FilesystemBucket(dir.path()).put("tenant/b/x", "other");
  EXPECT_EQ(b.list("").size(), 2u);
  try {
    b.download("missing", local.file("m"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), dir.path() + "/tenant/a/missing");
  }
}

}  // namespace
}  // namespace promblock::objstore
