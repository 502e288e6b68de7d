#include "tsdb/remote/bucket_blocks.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "tsdb/base/error.h"
#include "tsdb/base/ulid.h"

namespace promblock::remote {

namespace {

bool is_mark(const std::string& name) {
  return name == kDeletionMarkFile || name == kNoCompactMarkFile;
}

bool has_object(const std::vector<objstore::ObjectInfo>& objects, const std::string& name) {
  return std::any_of(objects.begin(), objects.end(), [&](auto& o) { return o.name == name; });
}

BucketBlock read_block(objstore::Bucket& bucket, std::string prefix,
                       std::vector<objstore::ObjectInfo> objects) {
  BucketBlock b;
  std::string meta_name = prefix + kMetaFile;
  auto text = bucket.get(meta_name);
  // Listed a moment ago but gone now: deleted meanwhile, as a block that is
  // being deleted loses its meta.json first.
  if (!text) fail(bucket.describe_object(meta_name), "disappeared while listing");
  b.meta = parse_meta(*text, bucket.describe_object(meta_name));
  b.deletion_marked = has_object(objects, kDeletionMarkFile);
  b.no_compact_marked = has_object(objects, kNoCompactMarkFile);
  b.prefix = std::move(prefix);
  b.objects = std::move(objects);
  return b;
}

}  // namespace

std::string last_component(const std::string& prefix) {
  std::string p = prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

uint64_t BucketBlock::size_bytes() const {
  uint64_t total = 0;
  for (const auto& o : objects)
    if (!is_mark(o.name)) total += o.size;
  return total;
}

BucketListing list_blocks(objstore::Bucket& bucket, const std::string& root, bool keep_unreadable) {
  BucketListing out;
  // The objects under root, grouped by their first name component.
  std::map<std::string, std::vector<objstore::ObjectInfo>> groups;
  std::vector<objstore::ObjectInfo> own;  // directly under root
  for (auto& obj : bucket.list(root)) {
    std::string rel = obj.name.substr(root.size());
    size_t slash = rel.find('/');
    if (slash == std::string::npos) {
      own.push_back({rel, obj.size});
      continue;
    }
    groups[rel.substr(0, slash)].push_back({rel.substr(slash + 1), obj.size});
  }
  auto add_block = [&](std::string ulid, std::string prefix,
                       std::vector<objstore::ObjectInfo> objs) {
    if (!has_object(objs, kMetaFile)) {
      out.partials.push_back({std::move(ulid), std::move(prefix), std::move(objs)});
      return;
    }
    try {
      out.blocks.push_back(read_block(bucket, prefix, objs));
    } catch (const Error& e) {
      if (!keep_unreadable) throw;
      out.unreadable.push_back({{std::move(ulid), std::move(prefix), std::move(objs)}, e.what()});
    }
  };
  if (!root.empty() && has_object(own, kMetaFile)) {
    // root is one block: its own objects are the top-level ones plus the groups.
    for (auto& [dir, objs] : groups)
      for (auto& o : objs) own.push_back({dir + "/" + o.name, o.size});
    add_block(last_component(root), root, std::move(own));
    return out;
  }
  for (auto& [name, objs] : groups) {
    if (!is_ulid(name)) continue;  // debug/, a tenant's folder, ...: not a block
    add_block(name, root + name + "/", std::move(objs));
  }
  std::sort(out.blocks.begin(), out.blocks.end(), [](const auto& a, const auto& b) {
    return std::tie(a.meta.min_time, a.meta.ulid) < std::tie(b.meta.min_time, b.meta.ulid);
  });
  return out;
}

}  // namespace promblock::remote
