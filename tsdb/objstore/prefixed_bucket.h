#pragma once
// Thanos's `prefix:` setting: a bucket seen through a folder of another.
// Names given and returned are relative to the prefix; the inner bucket sees
// them with "<prefix>/" in front.
#include <memory>

#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {

class PrefixedBucket : public Bucket {
 public:
  // `prefix` without leading or trailing '/' (they are dropped); not empty.
  PrefixedBucket(std::unique_ptr<Bucket> inner, std::string_view prefix);

  std::string describe() const override { return inner_->describe_object(prefix_); }
  std::vector<ObjectInfo> list(const std::string& prefix) override;
  std::vector<std::string> list_dirs(const std::string& prefix) override;
  std::optional<std::string> get(const std::string& name) override;
  void download(const std::string& name, const std::string& local_path,
                std::optional<uint64_t> expected_size) override;
  void put(const std::string& name, std::string_view bytes) override;
  void upload(const std::string& name, const std::string& local_path) override;
  CreateResult create_if_absent(const std::string& name, std::string_view bytes) override;
  void remove(const std::string& name) override;

 private:
  std::string full(const std::string& name) const { return prefix_ + "/" + name; }
  std::string strip(const std::string& full_name) const;

  std::unique_ptr<Bucket> inner_;
  std::string prefix_;
};

}  // namespace promblock::objstore
