#include "tsdb/objstore/prefixed_bucket.h"

#include "tsdb/base/error.h"

namespace promblock::objstore {

PrefixedBucket::PrefixedBucket(std::unique_ptr<Bucket> inner, std::string_view prefix)
    : inner_(std::move(inner)) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty()) fail(inner_->describe(), "empty bucket prefix");
  prefix_ = prefix;
}

std::string PrefixedBucket::strip(const std::string& full_name) const {
  // The inner bucket only answers names under full(""), which has prefix_.size() + 1 chars.
  return full_name.substr(prefix_.size() + 1);
}

std::vector<ObjectInfo> PrefixedBucket::list(const std::string& prefix) {
  auto out = inner_->list(full(prefix));
  for (auto& o : out) o.name = strip(o.name);
  return out;
}

std::vector<std::string> PrefixedBucket::list_dirs(const std::string& prefix) {
  auto out = inner_->list_dirs(full(prefix));
  for (auto& d : out) d = strip(d);
  return out;
}

std::optional<std::string> PrefixedBucket::get(const std::string& name) {
  return inner_->get(full(name));
}

void PrefixedBucket::download(const std::string& name, const std::string& local_path,
                              std::optional<uint64_t> expected_size) {
  inner_->download(full(name), local_path, expected_size);
}

void PrefixedBucket::put(const std::string& name, std::string_view bytes) {
  inner_->put(full(name), bytes);
}

void PrefixedBucket::upload(const std::string& name, const std::string& local_path) {
  inner_->upload(full(name), local_path);
}

CreateResult PrefixedBucket::create_if_absent(const std::string& name, std::string_view bytes) {
  return inner_->create_if_absent(full(name), bytes);
}

void PrefixedBucket::remove(const std::string& name) { inner_->remove(full(name)); }

}  // namespace promblock::objstore
