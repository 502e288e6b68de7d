#pragma once
// TEMPORARY stand-in (FILESYSTEM only) until the real config parser lands.
#include <memory>
#include <string>
#include <string_view>

#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {
struct BucketConfig {
  std::string directory;
};
BucketConfig parse_bucket_config(std::string_view yaml, const std::string& origin);
std::unique_ptr<Bucket> open_bucket(const BucketConfig& config);
}  // namespace promblock::objstore
