#pragma once
// Thanos's FILESYSTEM bucket: objects are files under a directory, names are
// their relative paths. Writes go to a temporary file in the same directory,
// fsynced and renamed, so a reader never sees half an object.
#include <functional>

#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {

class FilesystemBucket : public Bucket {
 public:
  explicit FilesystemBucket(std::string directory);

  std::string describe() const override { return dir_; }
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
  std::string path_of(const std::string& name) const;
  // Has `fill` write a temporary file beside `name`'s path, then renames it
  // into place, so readers never see a part; `exclusive` links instead of
  // renaming, which fails (false) when the name exists. The temporary file
  // never outlives the call.
  bool write_via_tmp(const std::string& name,
                     const std::function<void(const std::string& tmp)>& fill, bool exclusive);

  std::string dir_;
};

}  // namespace promblock::objstore
