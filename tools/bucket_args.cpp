#include "tools/bucket_args.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tools/log.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/usage_error.h"
#include "tsdb/objstore/config.h"
#include "tsdb/remote/block_transfer.h"

namespace promblock::tools {

ObjstoreOptions& objstore_options() {
  static ObjstoreOptions options;
  return options;
}

void add_objstore_options(CLI::App& app) {
  auto& o = objstore_options();
  auto* file = app.add_option("--objstore.config-file", o.config_file,
                              "Thanos objstore configuration file: the bucket that "
                              "`bucket:` sources and --out bucket: name");
  auto* yaml = app.add_option("--objstore.config", o.config_yaml,
                              "The same configuration as YAML text, instead of a file");
  file->excludes(yaml);
  app.add_option("--scratch-dir", o.scratch_dir,
                 "Where blocks downloaded from a bucket are kept during the run (default: a "
                 "new directory under $TMPDIR or /tmp, removed at the end)");
}

bool is_bucket_arg(const std::string& arg) { return arg.rfind(kBucketScheme, 0) == 0; }

std::string bucket_root(const std::string& arg) {
  std::string path = arg.substr(kBucketScheme.size());
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path.empty() ? path : path + "/";
}

BucketSession::~BucketSession() {
  if (!own_scratch_) return;
  std::error_code ec;
  std::filesystem::remove_all(scratch_, ec);
}

objstore::Bucket& BucketSession::bucket() {
  if (bucket_) return *bucket_;
  const auto& o = objstore_options();
  if (o.config_file.empty() && o.config_yaml.empty())
    throw UsageError(
        "a bucket: argument needs the bucket's configuration: --objstore.config-file FILE or "
        "--objstore.config YAML");
  auto config = o.config_file.empty()
                    ? objstore::parse_bucket_config(o.config_yaml, objstore::process_env())
                    : objstore::load_bucket_config(o.config_file, objstore::process_env());
  bucket_ = objstore::open_bucket(config);
  return *bucket_;
}

const std::string& BucketSession::scratch() {
  if (!scratch_.empty()) return scratch_;
  const auto& o = objstore_options();
  if (!o.scratch_dir.empty()) {
    // The user's directory stays; this run works in a new folder inside it.
    fsutil::make_dirs(o.scratch_dir);
  }
  const char* tmpdir = getenv("TMPDIR");
  std::string parent = !o.scratch_dir.empty() ? o.scratch_dir
                       : tmpdir && *tmpdir    ? std::string(tmpdir)
                                              : std::string("/tmp");
  std::string templ = parent + "/promblock-scratch-XXXXXX";
  if (!mkdtemp(templ.data())) fail_errno(parent, "creating a scratch directory");
  scratch_ = templ;
  own_scratch_ = true;
  return scratch_;
}

std::string BucketSession::scratch_subdir(const std::string& name) {
  std::string dir = scratch() + "/" + std::to_string(subdirs_++) + "-" + name;
  fsutil::make_dirs(dir);
  return dir;
}

remote::BucketListing BucketSession::list(const std::string& arg, bool keep_unreadable) {
  return remote::list_blocks(bucket(), bucket_root(arg), keep_unreadable);
}

std::vector<std::string> BucketSession::localize(const std::vector<std::string>& sources,
                                                 const BlockFilter& wanted) {
  std::vector<std::string> out;
  for (const auto& s : sources) {
    if (!is_bucket_arg(s)) {
      out.push_back(s);
      continue;
    }
    auto listing = list(s);
    std::string dir = scratch_subdir("source");
    for (const auto& b : listing.blocks) {
      if (wanted && !wanted(b)) continue;
      log_info("downloading " + bucket().describe_object(b.prefix) + " (" +
               std::to_string(b.size_bytes()) + " bytes)");
      remote::download_block(bucket(), b, dir);
    }
    out.push_back(dir);
  }
  return out;
}

}  // namespace promblock::tools
