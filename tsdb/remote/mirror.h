#pragma once
// A local stand-in for a bucket's blocks, so that code written for block
// directories (the compactor) can work on a bucket. Each block of the bucket
// becomes a local directory holding only its meta.json and marks (a stub):
// enough to list, group and plan. fetch() brings in a block's data when
// something is about to read it, and sync_back() makes the bucket follow
// what was done locally: new blocks uploaded, new marks written, removed
// blocks deleted, in an order that never leaves a block visible without
// all its files and never loses a block that is not yet replaced.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "tsdb/objstore/bucket.h"
#include "tsdb/remote/bucket_blocks.h"

namespace promblock::remote {

struct SyncResult {
  uint64_t uploaded = 0;  // new blocks (published ones included)
  uint64_t marked = 0;    // marks written
  uint64_t deleted = 0;   // blocks removed from the bucket
};

class BucketMirror {
 public:
  // Lists the blocks under `root` and writes their stubs into `local_dir`
  // (which must be empty or missing).
  BucketMirror(objstore::Bucket& bucket, std::string root, std::string local_dir);

  const std::string& local_dir() const { return local_dir_; }
  const BucketListing& listing() const { return listing_; }

  // Lists the bucket again and makes the stubs follow what other runs did
  // since: new blocks get stubs, new marks are copied, and the stubs of
  // blocks deleted meanwhile go. For a run that has just locked its
  // groups: nothing it fetched or published is touched.
  void refresh();

  // When `block_dir` is one of this mirror's stubs, downloads the block's
  // data into it (once; safe to call from several threads, which download
  // different blocks at once). Anything else is left alone.
  void fetch(const std::string& block_dir);

  // Uploads a new local block now (meta.json last) instead of at
  // sync_back(), which then treats it as one the bucket has. Safe to call
  // from several threads.
  void publish(const std::string& block_dir);

  // Uploads the complete local blocks the bucket does not have (meta.json
  // last; not those already marked for deletion), then the marks that are new, then deletes from
  // the bucket the blocks whose local directory is gone (meta.json first, the deletion mark last,
  // as Thanos deletes).
  SyncResult sync_back();

  // Deletes the partial blocks (no meta.json) whose ULID is older than
  // `min_age_ms` at `now_ms`: uploads that were cut short and will never
  // finish. Returns how many.
  uint64_t remove_old_partials(int64_t now_ms, int64_t min_age_ms);

 private:
  // Writes `b`'s stub (marks, then meta.json) and records it.
  void add_stub(const BucketBlock& b);

  struct Known {
    const BucketBlock* block;
    bool deletion_marked, no_compact_marked;
  };

  objstore::Bucket& bucket_;
  std::string root_;
  std::string local_dir_;
  BucketListing listing_;
  std::map<std::string, Known> known_;    // by local directory name
  std::deque<BucketBlock> published_;     // what publish() uploaded; known_ points here
  std::deque<BucketBlock> listed_later_;  // what refresh() found; known_ points here
  std::mutex mu_;
  std::set<std::string> stubs_;     // local dirs still without data
  std::set<std::string> fetching_;  // stubs being downloaded now
  std::condition_variable fetched_cv_;
};

// Deletes a block's objects: meta.json first (the block turns invisible),
// then its files, the deletion mark last.
void delete_block_objects(objstore::Bucket& bucket, const std::string& prefix,
                          const std::vector<objstore::ObjectInfo>& objects);

}  // namespace promblock::remote
