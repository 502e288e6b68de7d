#pragma once
// Buckets on the command line. The bucket is described by Thanos's objstore
// configuration (--objstore.config-file FILE or --objstore.config YAML, as
// `thanos compact` takes it); a SOURCE, or --out, written `bucket:` names
// that bucket's blocks, and `bucket:PATH` the folder PATH in it or the one
// block whose ULID PATH ends in. Commands that read data work on local
// copies of the blocks they need, downloaded into a scratch directory that
// is removed when the run ends.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tsdb/objstore/bucket.h"
#include "tsdb/remote/bucket_blocks.h"

namespace promblock::tools {

struct ObjstoreOptions {
  std::string config_file;
  std::string config_yaml;
  std::string scratch_dir;  // empty: a new directory under $TMPDIR or /tmp
};
ObjstoreOptions& objstore_options();
// Registers the options above on the app, as global options.
void add_objstore_options(CLI::App& app);

inline constexpr std::string_view kBucketScheme = "bucket:";
bool is_bucket_arg(const std::string& arg);
// "bucket:" -> "", "bucket:a/b" -> "a/b/": the root of its objects.
std::string bucket_root(const std::string& arg);

// The bucket of this run and its scratch directory, both made on first use.
class BucketSession {
 public:
  BucketSession() = default;
  ~BucketSession();
  BucketSession(const BucketSession&) = delete;
  BucketSession& operator=(const BucketSession&) = delete;

  objstore::Bucket& bucket();
  // A directory of this run's own; removed with everything in it at the end.
  const std::string& scratch();
  // A new empty directory inside scratch().
  std::string scratch_subdir(const std::string& name);

  // The complete blocks under a bucket argument.
  remote::BucketListing list(const std::string& arg, bool keep_unreadable = false);
  // `sources` with every bucket argument replaced by a local directory
  // holding copies of its complete blocks (marks included, so a marked
  // block is treated as it would be in a directory).
  // `wanted`, when given, picks the blocks worth downloading.
  using BlockFilter = std::function<bool(const remote::BucketBlock&)>;
  std::vector<std::string> localize(const std::vector<std::string>& sources,
                                    const BlockFilter& wanted = nullptr);

 private:
  std::unique_ptr<objstore::Bucket> bucket_;
  std::string scratch_;
  bool own_scratch_ = false;
  int subdirs_ = 0;
};

}  // namespace promblock::tools
