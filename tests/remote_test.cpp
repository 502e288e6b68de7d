// Blocks in a bucket: listing (complete, partial, unreadable), download
// checks, upload order, and the stub mirror's fetch and sync back.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"
#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"
#include "tsdb/objstore/filesystem_bucket.h"
#include "tsdb/remote/block_transfer.h"
#include "tsdb/remote/bucket_blocks.h"
#include "tsdb/remote/bucket_lock.h"
#include "tsdb/remote/file_hash.h"
#include "tsdb/remote/mirror.h"

namespace promblock::remote {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A bucket that records the writes and removals made through it, in order.
class RecordingBucket : public objstore::FilesystemBucket {
 public:
  using FilesystemBucket::FilesystemBucket;
  std::vector<std::string> calls;
  void put(const std::string& name, std::string_view bytes) override {
    calls.push_back("put " + name);
    FilesystemBucket::put(name, bytes);
  }
  void upload(const std::string& name, const std::string& local_path) override {
    calls.push_back("upload " + name);
    FilesystemBucket::upload(name, local_path);
  }
  void remove(const std::string& name) override {
    calls.push_back("remove " + name);
    FilesystemBucket::remove(name);
  }
  std::atomic<int> downloads{0};  // may come from several threads
  void download(const std::string& name, const std::string& local_path,
                std::optional<uint64_t> expected_size) override {
    ++downloads;
    FilesystemBucket::download(name, local_path, expected_size);
  }
};

std::string make_block(const std::string& parent, int64_t min_time) {
  BlockMeta meta;
  meta.min_time = min_time;
  meta.max_time = min_time + 1000;
  meta.thanos = {{"labels", {{"cluster", "x"}}}};
  return testing::write_block(
      parent, {{{{"__name__", "up"}}, {testing::samples_at({min_time, min_time + 999})}}}, meta);
}

struct BucketBlocks : ::testing::Test {
  TempDir local, store;
  RecordingBucket bucket{store.path()};

  // Uploads a new block made locally and returns its ULID.
  std::string add_block(int64_t min_time, const std::string& root = "") {
    std::string dir = make_block(local.path(), min_time);
    upload_block(bucket, dir, root);
    return fsutil::base_name(dir);
  }
};

TEST_F(BucketBlocks, UploadPutsChunksFirstAndMetaLast) {
  std::string ulid = add_block(0);
  ASSERT_GE(bucket.calls.size(), 3u);
  EXPECT_EQ(bucket.calls.front(), "upload " + ulid + "/chunks/000001");
  EXPECT_EQ(bucket.calls.back(), "upload " + ulid + "/meta.json");
  EXPECT_NE(std::find(bucket.calls.begin(), bucket.calls.end(), "upload " + ulid + "/index"),
            bucket.calls.end());
}

TEST_F(BucketBlocks, ListingSortsBlocksAndSetsPartialsAndUnreadableApart) {
  std::string late = add_block(5000), early = add_block(0);
  std::string partial = add_block(9000);
  bucket.remove(partial + "/meta.json");
  std::string broken = add_block(7000);
  bucket.put(broken + "/meta.json", "{not json");
  bucket.put("debug/metas/x.json", "{}");  // not a block: ignored

  EXPECT_THROW(list_blocks(bucket, ""), Error);
  auto listing = list_blocks(bucket, "", /*keep_unreadable=*/true);
  ASSERT_EQ(listing.blocks.size(), 2u);
  EXPECT_EQ(listing.blocks[0].meta.ulid, early);
  EXPECT_EQ(listing.blocks[1].meta.ulid, late);
  EXPECT_EQ(listing.blocks[0].prefix, early + "/");
  ASSERT_EQ(listing.partials.size(), 1u);
  EXPECT_EQ(listing.partials[0].ulid, partial);
  ASSERT_EQ(listing.unreadable.size(), 1u);
  EXPECT_EQ(listing.unreadable[0].where.ulid, broken);
  EXPECT_NE(listing.unreadable[0].error.find(broken + "/meta.json"), std::string::npos);
}

TEST_F(BucketBlocks, ARootThatIsABlockListsThatBlock) {
  std::string ulid = add_block(0, "tenant/");
  add_block(100, "tenant/");
  auto listing = list_blocks(bucket, "tenant/" + ulid + "/");
  ASSERT_EQ(listing.blocks.size(), 1u);
  EXPECT_EQ(listing.blocks[0].meta.ulid, ulid);
  bool has_chunk = false;
  for (const auto& o : listing.blocks[0].objects) has_chunk |= o.name == "chunks/000001";
  EXPECT_TRUE(has_chunk);
}

TEST_F(BucketBlocks, DownloadIsByteIdenticalAndRefusesAShortObject) {
  std::string dir = make_block(local.path(), 0);
  upload_block(bucket, dir, "");
  auto listing = list_blocks(bucket, "");
  TempDir into;
  std::string got = download_block(bucket, listing.blocks.at(0), into.path());
  for (const char* f : {"index", "chunks/000001", "meta.json"})
    EXPECT_EQ(testing::read_bytes(got + "/" + f), testing::read_bytes(dir + "/" + f)) << f;

  // The index object is cut short after the listing was made: the size
  // recorded in meta.json (and the listing) no longer match.
  std::string ulid = fsutil::base_name(dir);
  fs::resize_file(store.file(ulid + "/index"), 10);
  auto relisted = list_blocks(bucket, "");
  TempDir into2;
  try {
    download_block(bucket, relisted.blocks.at(0), into2.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), store.file(ulid + "/index"));
    EXPECT_NE(std::string(e.what()).find("meta.json says"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(into2.path()));  // nothing half-downloaded left
}

TEST_F(BucketBlocks, MirrorHoldsStubsUntilFetched) {
  std::string ulid = add_block(0);
  bucket.put(ulid + "/no-compact-mark.json", "{\"id\":\"x\"}");
  TempDir m;
  BucketMirror mirror(bucket, "", m.path() + "/mirror");
  std::string stub = m.path() + "/mirror/" + ulid;
  EXPECT_TRUE(fs::exists(stub + "/meta.json"));
  EXPECT_TRUE(fs::exists(stub + "/no-compact-mark.json"));
  EXPECT_FALSE(fs::exists(stub + "/index"));
  EXPECT_EQ(read_meta(stub).ulid, ulid);

  mirror.fetch(stub);
  EXPECT_EQ(testing::read_bytes(stub + "/index"), testing::read_bytes(store.file(ulid + "/index")));
  EXPECT_TRUE(fs::exists(stub + "/chunks/000001"));
  mirror.fetch(stub);                 // once only: a no-op now
  mirror.fetch(local.path() + "/x");  // not a stub: left alone
}

TEST_F(BucketBlocks, ConcurrentFetchesDownloadEachBlockOnce) {
  std::vector<std::string> ulids = {add_block(0), add_block(1000), add_block(2000)};
  TempDir m;
  BucketMirror mirror(bucket, "", m.path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)  // two threads per block
    threads.emplace_back([&, t] { mirror.fetch(m.path() + "/" + ulids[t % 3]); });
  for (auto& t : threads) t.join();
  size_t objects = 0;
  for (const auto& u : ulids) {
    EXPECT_EQ(testing::read_bytes(m.path() + "/" + u + "/index"),
              testing::read_bytes(store.file(u + "/index")));
    objects += bucket.list(u + "/").size() - 1;  // all but meta.json
  }
  EXPECT_EQ(size_t(bucket.downloads.load()), objects);
  for (const auto& e : fs::directory_iterator(m.path()))
    EXPECT_EQ(e.path().string().find(".fetch"), std::string::npos) << e.path();
}

TEST_F(BucketBlocks, SyncBackUploadsThenMarksThenDeletes) {
  std::string kept = add_block(0), replaced = add_block(1000), removed = add_block(2000);
  TempDir m;
  BucketMirror mirror(bucket, "", m.path());
  // What a compaction does locally: a new block, a mark, a deletion, and an
  // intermediate block already replaced within the run.
  std::string fresh = make_block(m.path(), 3000);
  std::string intermediate = make_block(m.path(), 4000);
  fsutil::write_file_synced(intermediate + "/deletion-mark.json", "{}");
  fsutil::write_file_synced(m.path() + "/" + replaced + "/deletion-mark.json", "{\"d\":1}");
  fs::remove_all(m.path() + "/" + removed);

  bucket.calls.clear();
  auto r = mirror.sync_back();
  EXPECT_EQ(r.uploaded, 1u);
  EXPECT_EQ(r.marked, 1u);
  EXPECT_EQ(r.deleted, 1u);
  std::string fresh_ulid = fsutil::base_name(fresh);
  auto at = [&](const std::string& call) {
    auto it = std::find(bucket.calls.begin(), bucket.calls.end(), call);
    EXPECT_NE(it, bucket.calls.end()) << call;
    return it - bucket.calls.begin();
  };
  auto meta_up = at("upload " + fresh_ulid + "/meta.json");
  auto mark = at("put " + replaced + "/deletion-mark.json");
  auto meta_gone = at("remove " + removed + "/meta.json");
  auto chunks_gone = at("remove " + removed + "/chunks/000001");
  auto mark_gone = at("remove " + removed + "/deletion-mark.json");
  EXPECT_LT(meta_up, mark);
  EXPECT_LT(mark, meta_gone);
  EXPECT_LT(meta_gone, chunks_gone);
  EXPECT_LT(chunks_gone, mark_gone);
  for (const auto& c : bucket.calls)
    EXPECT_EQ(c.find(fsutil::base_name(intermediate)), std::string::npos) << c;
  EXPECT_EQ(*bucket.get(replaced + "/deletion-mark.json"), "{\"d\":1}");
  EXPECT_FALSE(fs::exists(store.file(removed)));
  EXPECT_TRUE(fs::exists(store.file(kept + "/index")));
}

TEST_F(BucketBlocks, OnlyOldPartialUploadsAreRemoved) {
  std::string old_partial = new_ulid(1000), young_partial = new_ulid(500'000);
  bucket.put(old_partial + "/index", "x");
  bucket.put(young_partial + "/index", "x");
  TempDir m;
  BucketMirror mirror(bucket, "", m.path());
  EXPECT_EQ(mirror.remove_old_partials(/*now_ms=*/600'000, /*min_age_ms=*/200'000), 1u);
  EXPECT_FALSE(bucket.get(old_partial + "/index"));
  EXPECT_TRUE(bucket.get(young_partial + "/index"));
}

}  // namespace
}  // namespace promblock::remote

namespace promblock::remote {
namespace {

// A lock object in a FILESYSTEM bucket, on a clock the test moves.
struct BucketLockTest : ::testing::Test {
  testing::TempDir store;
  objstore::FilesystemBucket bucket{store.path()};
  int64_t now = 1'000'000;
  BucketLock::Now clock = [this] { return now; };
  std::chrono::milliseconds expiry{60'000};
};

TEST_F(BucketLockTest, ExcludesALiveHolderAndTakesOverAStaleOne) {
  using Outcome = BucketLock::Outcome;
  {
    auto first = BucketLock::acquire(bucket, "x/.lock", expiry, clock);
    ASSERT_EQ(first.outcome, Outcome::kHeld);
    EXPECT_NO_THROW(first.lock->check());
    EXPECT_TRUE(bucket.get("x/.lock"));
    now += 59'000;  // not refreshed for less than the expiry: still held
    auto second = BucketLock::acquire(bucket, "x/.lock", expiry, clock);
    EXPECT_EQ(second.outcome, Outcome::kHeldByOther);
    EXPECT_FALSE(second.lock);
    EXPECT_NE(second.held_by.find(" pid "), std::string::npos) << second.held_by;
    EXPECT_NE(second.held_by.find(", refreshed 59s ago"), std::string::npos) << second.held_by;
  }
  EXPECT_FALSE(bucket.get("x/.lock"));  // released

  bucket.put("x/.lock", "{\"holder\":\"gone\",\"refreshed_ms\":1000}");
  now = 1000 + 60'000;  // its holder stopped refreshing an expiry ago
  auto taker = BucketLock::acquire(bucket, "x/.lock", expiry, clock);
  ASSERT_EQ(taker.outcome, Outcome::kHeld);
  EXPECT_NE(bucket.get("x/.lock")->find("\"refreshed_ms\":61000"), std::string::npos);
}

TEST_F(BucketLockTest, AHolderWhoseLockWasTakenOverFindsOutAndLeavesTheTakersObject) {
  auto stalled = BucketLock::acquire(bucket, "g.lock", expiry, clock);
  ASSERT_EQ(stalled.outcome, BucketLock::Outcome::kHeld);
  now += 61'000;  // as if its refreshes had stopped: another run takes over
  auto taker = BucketLock::acquire(bucket, "g.lock", expiry, clock);
  ASSERT_EQ(taker.outcome, BucketLock::Outcome::kHeld);
  try {
    stalled.lock->check();
    ADD_FAILURE() << "check() passed on a lost lock";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("g.lock"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lock lost"), std::string::npos) << e.what();
  }
  std::string takers = *bucket.get("g.lock");
  stalled.lock.reset();  // releasing a lost lock removes nothing
  EXPECT_EQ(bucket.get("g.lock"), takers);
  EXPECT_NO_THROW(taker.lock->check());
}

// A store without atomic create (as s3rver, which ignores If-None-Match).
class NoAtomicCreateBucket : public objstore::FilesystemBucket {
 public:
  using FilesystemBucket::FilesystemBucket;
  objstore::CreateResult create_if_absent(const std::string&, std::string_view) override {
    return objstore::CreateResult::kNotSupported;
  }
};

TEST(BucketLockWithoutAtomicCreate, GivesNoLockAndWritesNothing) {
  testing::TempDir store;
  NoAtomicCreateBucket bucket(store.path());
  auto a = BucketLock::acquire(bucket, "g.lock", std::chrono::milliseconds(60'000),
                               [] { return int64_t(5); });
  EXPECT_EQ(a.outcome, BucketLock::Outcome::kNotSupported);
  EXPECT_FALSE(a.lock);
  EXPECT_FALSE(bucket.get("g.lock"));
}

TEST_F(BucketBlocks, RefreshFollowsWhatOtherRunsDidSinceTheListing) {
  std::string kept = add_block(0), marked = add_block(1000), deleted = add_block(2000);
  std::string fetched = add_block(3000);
  TempDir m;
  BucketMirror mirror(bucket, "", m.path());
  mirror.fetch(m.path() + "/" + fetched);
  // Meanwhile another run adds a block, marks one, deletes two.
  std::string added = add_block(4000);
  bucket.put(marked + "/deletion-mark.json", "{\"by\":\"other\"}");
  for (const auto& gone : {deleted, fetched})
    for (const auto& o : bucket.list(gone + "/")) bucket.remove(o.name);

  mirror.refresh();
  EXPECT_TRUE(fs::exists(m.path() + "/" + added + "/meta.json"));
  EXPECT_FALSE(fs::exists(m.path() + "/" + added + "/index"));  // a stub
  EXPECT_EQ(fsutil::read_small_file(m.path() + "/" + marked + "/deletion-mark.json"),
            "{\"by\":\"other\"}");
  EXPECT_FALSE(fs::exists(m.path() + "/" + deleted));
  EXPECT_TRUE(fs::exists(m.path() + "/" + fetched + "/index"));  // fetched: ours, left alone
  EXPECT_TRUE(fs::exists(m.path() + "/" + kept + "/meta.json"));

  // The new block is fetchable, and syncing writes nothing another run did.
  mirror.fetch(m.path() + "/" + added);
  EXPECT_TRUE(fs::exists(m.path() + "/" + added + "/index"));
  bucket.calls.clear();
  auto r = mirror.sync_back();
  EXPECT_EQ(r.marked, 0u);
  EXPECT_EQ(r.deleted, 0u);
  for (const auto& c : bucket.calls) EXPECT_EQ(c.find(marked), std::string::npos) << c;
  for (const auto& c : bucket.calls) EXPECT_EQ(c.find(deleted), std::string::npos) << c;
}

}  // namespace
}  // namespace promblock::remote

namespace promblock::remote {
namespace {

TEST(FileHashTest, IsSha256InHex) {
  testing::TempDir dir;
  fsutil::write_file_synced(dir.file("abc"), "abc");
  EXPECT_EQ(sha256_file_hex(dir.file("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(sha256_file_hex(dir.file("missing")), Error);
}

TEST_F(BucketBlocks, DownloadChecksTheHashesMetaJsonRecords) {
  std::string dir = make_block(local.path(), 0);
  std::string ulid = fsutil::base_name(dir);
  BlockMeta meta = read_meta(dir);
  for (auto& f : meta.thanos["files"])
    if (f["rel_path"] == "index")
      f["hash"] = {{"func", "SHA256"}, {"value", sha256_file_hex(dir + "/index")}};
  fsutil::write_file_synced(dir + "/meta.json", meta_to_json(meta));
  upload_block(bucket, dir, "");
  TempDir into;
  EXPECT_NO_THROW(download_block(bucket, list_blocks(bucket, "").blocks.at(0), into.path()));

  // Same size, other bytes: only the hash tells.
  auto index = testing::read_bytes(dir + "/index");
  index[index.size() / 2] ^= 0xff;
  testing::write_bytes(store.file(ulid + "/index"), index);
  TempDir into2;
  try {
    download_block(bucket, list_blocks(bucket, "").blocks.at(0), into2.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), store.file(ulid + "/index"));
    EXPECT_NE(e.detail().find("meta.json says"), std::string::npos) << e.what();
    EXPECT_EQ(e.detail().rfind("SHA256 ", 0), 0u) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(into2.path()));
}

}  // namespace
}  // namespace promblock::remote

namespace promblock::remote {
namespace {

TEST_F(BucketBlocks, PublishedBlocksAreInTheBucketAtOnceAndSyncedLikeKnownOnes) {
  TempDir m;
  BucketMirror mirror(bucket, "", m.path());
  std::string step = make_block(m.path(), 0), kept = make_block(m.path(), 1000);
  mirror.publish(step);
  mirror.publish(kept);
  std::string step_ulid = fsutil::base_name(step);
  EXPECT_TRUE(bucket.get(step_ulid + "/meta.json"));  // before any sync
  EXPECT_EQ(testing::read_bytes(store.file(step_ulid + "/index")),
            testing::read_bytes(step + "/index"));
  // The run then replaces the first one and deletes it (no delete delay).
  fs::remove_all(step);
  bucket.calls.clear();
  auto r = mirror.sync_back();
  EXPECT_EQ(r.uploaded, 2u);
  EXPECT_EQ(r.deleted, 1u);
  for (const auto& c : bucket.calls) EXPECT_EQ(c.rfind("upload", 0), std::string::npos) << c;
  EXPECT_FALSE(fs::exists(store.file(step_ulid)));
  EXPECT_TRUE(bucket.get(fsutil::base_name(kept) + "/meta.json"));
}

}  // namespace
}  // namespace promblock::remote
