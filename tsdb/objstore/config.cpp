#include "tsdb/objstore/config.h"

#include <yaml-cpp/yaml.h>

#include "tsdb/base/error.h"
#include "tsdb/objstore/filesystem_bucket.h"

namespace promblock::objstore {
BucketConfig parse_bucket_config(std::string_view yaml, const std::string& origin) {
  auto root = YAML::Load(std::string(yaml));
  if (root["type"].as<std::string>() != "FILESYSTEM") fail(origin, "only FILESYSTEM");
  return {root["config"]["directory"].as<std::string>()};
}
std::unique_ptr<Bucket> open_bucket(const BucketConfig& config) {
  return std::make_unique<FilesystemBucket>(config.directory);
}
}  // namespace promblock::objstore
