#include "tsdb/remote/block_transfer.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/parallel_for.h"
#include "tsdb/remote/file_hash.h"

namespace fs = std::filesystem;

namespace promblock::remote {

namespace {

// Objects of one block downloaded at once.
constexpr size_t kParallelDownloads = 4;

// What meta.json's Thanos section records of the block's files: their
// sizes, and their SHA-256 where Thanos's --hash-func was sha256. A
// download must match both.
struct RecordedFile {
  std::optional<uint64_t> size;
  std::string sha256;  // empty: none recorded
};

std::map<std::string, RecordedFile> recorded_files(const BlockMeta& meta) {
  std::map<std::string, RecordedFile> out;
  if (!meta.thanos.is_object() || !meta.thanos.contains("files")) return out;
  const auto& files = meta.thanos["files"];
  if (!files.is_array()) return out;
  for (const auto& f : files) {
    if (!f.is_object() || !f.contains("rel_path") || !f["rel_path"].is_string()) continue;
    RecordedFile r;
    if (f.contains("size_bytes") && f["size_bytes"].is_number_unsigned())
      r.size = f["size_bytes"].get<uint64_t>();
    if (f.contains("hash") && f["hash"].is_object() && f["hash"].value("func", "") == "SHA256" &&
        f["hash"].contains("value") && f["hash"]["value"].is_string())
      r.sha256 = f["hash"]["value"].get<std::string>();
    out[f["rel_path"].get<std::string>()] = r;
  }
  return out;
}

// A block directory's files in upload order: chunks, then the rest, then
// meta.json; marks stay behind (a new object is not marked).
std::vector<std::string> upload_order(const std::string& block_dir) {
  std::vector<std::string> chunks, rest;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(block_dir, ec), end; it != end; it.increment(ec)) {
    if (ec) fail(block_dir, "listing: " + ec.message());
    if (!it->is_regular_file(ec)) continue;
    std::string rel = fs::relative(it->path(), block_dir).generic_string();
    if (rel == kMetaFile || rel == kDeletionMarkFile || rel == kNoCompactMarkFile) continue;
    (rel.rfind("chunks/", 0) == 0 ? chunks : rest).push_back(rel);
  }
  std::sort(chunks.begin(), chunks.end());
  std::sort(rest.begin(), rest.end());
  chunks.insert(chunks.end(), rest.begin(), rest.end());
  chunks.push_back(kMetaFile);
  return chunks;
}

}  // namespace

void check_recorded_hashes(objstore::Bucket& bucket, const BucketBlock& block,
                           const std::string& local_dir) {
  for (const auto& [name, recorded] : recorded_files(block.meta)) {
    std::string local = local_dir + "/" + name;
    std::error_code ec;
    if (recorded.sha256.empty() || name == kMetaFile || !fs::exists(local, ec)) continue;
    std::string got = sha256_file_hex(local);
    if (got != recorded.sha256)
      fail(bucket.describe_object(block.prefix + name),
           "SHA256 " + got + ", meta.json says " + recorded.sha256);
  }
}

void check_recorded_files(objstore::Bucket& bucket, const BucketBlock& block) {
  for (const auto& entry : recorded_files(block.meta)) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const std::string& name = entry.first;
    if (name == kMetaFile || !entry.second.size) continue;  // written after the list, no size
    uint64_t size = *entry.second.size;
    auto it = std::find_if(block.objects.begin(), block.objects.end(),
                           [&](auto& o) { return o.name == name; });
    std::string where = bucket.describe_object(block.prefix + name);
    if (it == block.objects.end()) fail(where, "listed in meta.json but not in the bucket");
    if (it->size != size)
      fail(where,
           "size " + std::to_string(it->size) + " bytes, meta.json says " + std::to_string(size));
  }
}

void download_objects(objstore::Bucket& bucket, const std::string& prefix,
                      const std::vector<objstore::ObjectInfo>& objects, const std::string& dest) {
  std::string tmp = dest + ".tmp-download";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    fsutil::make_dirs(tmp);
    for (const auto& obj : objects) {
      if (!objstore::is_safe_relative_name(obj.name))
        fail(bucket.describe_object(prefix + obj.name), "not a valid object name");
      fsutil::make_dirs(fsutil::parent_of(tmp + "/" + obj.name));
    }
    // A block's files (index, chunk segments) come in side by side: one
    // stream at a time leaves most of a link or server idle.
    parallel_for(objects.size(), kParallelDownloads, [&](size_t i) {
      bucket.download(prefix + objects[i].name, tmp + "/" + objects[i].name, objects[i].size);
    });
    fs::remove_all(dest, ec);            // a leftover of an earlier download
    fsutil::rename_unsynced(tmp, dest);  // scratch (see Bucket::download)
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void download_checked(objstore::Bucket& bucket, const BucketBlock& block,
                      const std::vector<objstore::ObjectInfo>& objects, const std::string& dest) {
  check_recorded_files(bucket, block);
  download_objects(bucket, block.prefix, objects, dest);
  try {
    check_recorded_hashes(bucket, block, dest);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dest, ec);
    throw;
  }
}

std::string download_block(objstore::Bucket& bucket, const BucketBlock& block,
                           const std::string& into_dir) {
  // Named as in the bucket, so that a meta.json naming another ULID shows.
  std::string dest = into_dir + "/" + last_component(block.prefix);
  download_checked(bucket, block, block.objects, dest);
  return dest;
}

std::vector<objstore::ObjectInfo> upload_block(objstore::Bucket& bucket,
                                               const std::string& block_dir,
                                               const std::string& root) {
  std::string prefix = root + fsutil::base_name(block_dir) + "/";
  std::vector<objstore::ObjectInfo> written;
  for (const auto& rel : upload_order(block_dir)) {
    std::string local = block_dir + "/" + rel;
    std::error_code ec;
    uint64_t size = fs::file_size(local, ec);
    if (ec) fail(local, "reading: " + ec.message());
    bucket.upload(prefix + rel, local);
    written.push_back({rel, size});
  }
  return written;
}

}  // namespace promblock::remote
