#include "tsdb/remote/block_transfer.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace fs = std::filesystem;

namespace promblock::remote {

namespace {

// meta.json's Thanos section lists the block's files with their sizes;
// where it does, a download must match it.
std::map<std::string, uint64_t> recorded_sizes(const BlockMeta& meta) {
  std::map<std::string, uint64_t> sizes;
  if (!meta.thanos.is_object() || !meta.thanos.contains("files")) return sizes;
  const auto& files = meta.thanos["files"];
  if (!files.is_array()) return sizes;
  for (const auto& f : files)
    if (f.is_object() && f.contains("rel_path") && f.contains("size_bytes") &&
        f["rel_path"].is_string() && f["size_bytes"].is_number_unsigned())
      sizes[f["rel_path"].get<std::string>()] = f["size_bytes"].get<uint64_t>();
  return sizes;
}

bool safe_relative_name(const std::string& name) {
  return !name.empty() && name.front() != '/' && name.find("..") == std::string::npos;
}

void check_recorded_files(objstore::Bucket& bucket, const BucketBlock& block) {
  for (const auto& [name, size] : recorded_sizes(block.meta)) {
    if (name == "meta.json") continue;  // written after the list, without a size
    auto it = std::find_if(block.objects.begin(), block.objects.end(),
                           [&](auto& o) { return o.name == name; });
    std::string where = bucket.describe_object(block.prefix + name);
    if (it == block.objects.end()) fail(where, "listed in meta.json but not in the bucket");
    if (it->size != size)
      fail(where,
           "size " + std::to_string(it->size) + " bytes, meta.json says " + std::to_string(size));
  }
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

void download_objects(objstore::Bucket& bucket, const std::string& prefix,
                      const std::vector<objstore::ObjectInfo>& objects, const std::string& dest) {
  std::string tmp = dest + ".tmp-download";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    fsutil::make_dirs(tmp);
    for (const auto& obj : objects) {
      if (!safe_relative_name(obj.name))
        fail(bucket.describe_object(prefix + obj.name), "not a valid object name");
      std::string local = tmp + "/" + obj.name;
      fsutil::make_dirs(fsutil::parent_of(local));
      bucket.download(prefix + obj.name, local, obj.size);
    }
    fs::remove_all(dest, ec);  // a leftover of an earlier download
    fsutil::rename_synced(tmp, dest);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

std::string download_block(objstore::Bucket& bucket, const BucketBlock& block,
                           const std::string& into_dir) {
  check_recorded_files(bucket, block);
  // Named as in the bucket, so that a meta.json naming another ULID shows.
  std::string dest = into_dir + "/" + last_component(block.prefix);
  download_objects(bucket, block.prefix, block.objects, dest);
  return dest;
}

void upload_block(objstore::Bucket& bucket, const std::string& block_dir, const std::string& root) {
  std::string prefix = root + fsutil::base_name(block_dir) + "/";
  for (const auto& rel : upload_order(block_dir))
    bucket.upload(prefix + rel, block_dir + "/" + rel);
}

}  // namespace promblock::remote
