#pragma once
// Thanos's object-store configuration (the file of --objstore.config-file):
//
//   type: S3            # or FILESYSTEM; any case
//   prefix: some/dir    # optional: objects live under it
//   config: { bucket: ..., endpoint: ..., ... }   # or { directory: DIR }
//
// Keys are checked strictly, as Thanos does: an unknown one is an error.
// Keys Thanos has and promblock has no use for are accepted and ignored.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tsdb/objstore/bucket.h"
#include "tsdb/objstore/s3_bucket.h"

namespace promblock::objstore {

// An environment variable's value, nullopt when unset. A parameter so that
// tests need not touch the process's environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

enum class BucketType { kS3, kFilesystem };

struct BucketConfig {
  BucketType type = BucketType::kFilesystem;
  std::string prefix;     // "" or without leading and trailing '/'
  S3Options s3;           // type S3
  std::string directory;  // type FILESYSTEM
  std::string origin;     // the file, or "--objstore.config": for messages
};

// Parses the YAML; throws promblock::Error whose path is `origin`.
// Credentials missing from the file come from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the region, when not set,
// from AWS_REGION, then AWS_DEFAULT_REGION, else "us-east-1".
BucketConfig parse_bucket_config(std::string_view yaml, const EnvLookup& env,
                                 const std::string& origin = "--objstore.config");
// The same from a file, which names itself in errors.
BucketConfig load_bucket_config(const std::string& path, const EnvLookup& env);

// The configured bucket, wrapped in its prefix when there is one.
std::unique_ptr<Bucket> open_bucket(const BucketConfig& config);

// A Prometheus/Thanos duration: "90s", "2m", "1h30m", "500ms", "1d", "0".
// nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace promblock::objstore
