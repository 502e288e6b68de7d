#include "tsdb/remote/mirror.h"

#include <filesystem>
#include <system_error>
#include <tuple>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"
#include "tsdb/remote/block_transfer.h"

namespace fs = std::filesystem;

namespace promblock::remote {

namespace {

bool is_meta_or_mark(const std::string& name) {
  return name == kMetaFile || name == kDeletionMarkFile || name == kNoCompactMarkFile;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// Moves every entry of `from` into `to` (same file system), then removes `from`.
void move_entries(const std::string& from, const std::string& to) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(from)) {
    fs::rename(e.path(), fs::path(to) / e.path().filename(), ec);
    if (ec) fail(e.path().string(), "moving into " + to + ": " + ec.message());
  }
  fs::remove_all(from, ec);
}

}  // namespace

BucketMirror::BucketMirror(objstore::Bucket& bucket, std::string root, std::string local_dir)
    : bucket_(bucket), root_(std::move(root)), local_dir_(std::move(local_dir)) {
  listing_ = list_blocks(bucket_, root_);
  fsutil::make_dirs(local_dir_);
  for (const auto& b : listing_.blocks) add_stub(b);
}

void BucketMirror::add_stub(const BucketBlock& b) {
  std::string name = last_component(b.prefix);
  std::string dir = local_dir_ + "/" + name;
  fsutil::make_dirs(dir);
  for (const char* mark : {kDeletionMarkFile, kNoCompactMarkFile}) {
    if (auto text = bucket_.get(b.prefix + mark))
      fsutil::write_file_synced(dir + "/" + mark, *text);
  }
  // meta.json last: a stub is a block to the directory code only once complete.
  fsutil::write_file_synced(dir + "/" + kMetaFile, meta_to_json(b.meta));
  known_[name] = {&b, b.deletion_marked, b.no_compact_marked};
  stubs_.insert(dir);
}

void BucketMirror::refresh() {
  BucketListing now = list_blocks(bucket_, root_);
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> present;
  for (auto& b : now.blocks) {
    std::string name = last_component(b.prefix);
    present.insert(name);
    auto it = known_.find(name);
    if (it == known_.end()) {
      listed_later_.push_back(std::move(b));
      add_stub(listed_later_.back());
      continue;
    }
    std::string dir = local_dir_ + "/" + name;
    for (auto [mark, now_marked, had] :
         {std::tuple{kDeletionMarkFile, b.deletion_marked, &it->second.deletion_marked},
          std::tuple{kNoCompactMarkFile, b.no_compact_marked, &it->second.no_compact_marked}}) {
      if (!now_marked || *had) continue;
      if (auto text = bucket_.get(b.prefix + mark)) {
        if (!exists(dir + "/" + mark)) fsutil::write_file_synced(dir + "/" + mark, *text);
        *had = true;  // the bucket has one: not this run's to write
      }
    }
  }
  for (auto it = known_.begin(); it != known_.end();) {
    std::string dir = local_dir_ + "/" + it->first;
    if (present.count(it->first) || !stubs_.count(dir)) {
      ++it;
      continue;
    }
    // Deleted by another run: gone here too, and not ours to delete.
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) fail(dir, "removing the stub of a deleted block: " + ec.message());
    stubs_.erase(dir);
    it = known_.erase(it);
  }
  listing_.partials = std::move(now.partials);
}

void BucketMirror::fetch(const std::string& block_dir) {
  std::unique_lock<std::mutex> lock(mu_);
  // Another job may be bringing this block in: it is then ours too.
  fetched_cv_.wait(lock, [&] { return !fetching_.count(block_dir); });
  if (!stubs_.count(block_dir)) return;
  const BucketBlock& b = *known_.at(fsutil::base_name(block_dir)).block;
  fetching_.insert(block_dir);
  lock.unlock();  // other blocks download meanwhile
  try {
    std::vector<objstore::ObjectInfo> data;
    for (const auto& o : b.objects)
      if (!is_meta_or_mark(o.name)) data.push_back(o);
    // Marks and meta.json stay as they are locally: the run may have written marks.
    std::string fetched = block_dir + ".fetch";
    download_checked(bucket_, b, data, fetched);
    move_entries(fetched, block_dir);
  } catch (...) {
    lock.lock();
    fetching_.erase(block_dir);
    fetched_cv_.notify_all();
    throw;
  }
  lock.lock();
  fetching_.erase(block_dir);
  stubs_.erase(block_dir);
  fetched_cv_.notify_all();
}

void BucketMirror::publish(const std::string& block_dir) {
  BucketBlock b;
  b.objects = upload_block(bucket_, block_dir, root_);
  std::string name = fsutil::base_name(block_dir);
  b.prefix = root_ + name + "/";
  b.meta = read_meta(block_dir);
  std::lock_guard<std::mutex> lock(mu_);
  published_.push_back(std::move(b));
  known_[name] = {&published_.back(), false, false};
}

SyncResult BucketMirror::sync_back() {
  SyncResult r;
  r.uploaded = published_.size();
  std::error_code ec;
  // 1. New blocks: a complete ULID directory the bucket did not have.
  for (const auto& e : fs::directory_iterator(local_dir_)) {
    std::string name = e.path().filename().string();
    if (!is_ulid(name) || known_.count(name) || !exists(e.path() / kMetaFile)) continue;
    // Replaced within this run (a step of a multi-level job): never needed.
    if (exists(e.path() / kDeletionMarkFile)) continue;
    upload_block(bucket_, e.path().string(), root_);
    ++r.uploaded;
  }
  // 2. New marks on blocks the bucket has.
  for (const auto& [name, k] : known_) {
    std::string dir = local_dir_ + "/" + name;
    if (!exists(dir + "/" + kMetaFile)) continue;
    for (auto [mark, had] : {std::pair{kDeletionMarkFile, k.deletion_marked},
                             std::pair{kNoCompactMarkFile, k.no_compact_marked}}) {
      if (had || !exists(dir + "/" + mark)) continue;
      bucket_.put(k.block->prefix + mark, fsutil::read_small_file(dir + "/" + mark));
      ++r.marked;
    }
  }
  // 3. Blocks deleted locally.
  for (const auto& [name, k] : known_) {
    if (exists(local_dir_ + "/" + name + "/" + kMetaFile)) continue;
    delete_block_objects(bucket_, k.block->prefix, k.block->objects);
    ++r.deleted;
  }
  return r;
}

uint64_t BucketMirror::remove_old_partials(int64_t now_ms, int64_t min_age_ms) {
  uint64_t removed = 0;
  for (const auto& p : listing_.partials) {
    if (!is_ulid(p.ulid) || now_ms - ulid_time_ms(p.ulid) < min_age_ms) continue;
    delete_block_objects(bucket_, p.prefix, p.objects);
    ++removed;
  }
  return removed;
}

void delete_block_objects(objstore::Bucket& bucket, const std::string& prefix,
                          const std::vector<objstore::ObjectInfo>& objects) {
  bucket.remove(prefix + kMetaFile);
  for (const auto& o : objects)
    if (!is_meta_or_mark(o.name)) bucket.remove(prefix + o.name);
  bucket.remove(prefix + kNoCompactMarkFile);
  bucket.remove(prefix + kDeletionMarkFile);
}

}  // namespace promblock::remote
