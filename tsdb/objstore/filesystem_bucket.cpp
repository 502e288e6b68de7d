#include "tsdb/objstore/filesystem_bucket.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace fs = std::filesystem;

namespace promblock::objstore {

namespace {

// Temporary files of writes in progress start with this; listings skip them.
constexpr std::string_view kTmpPrefix = ".promblock-tmp-";

bool is_tmp(const fs::path& p) {
  return p.filename().string().compare(0, kTmpPrefix.size(), kTmpPrefix) == 0;
}

std::string tmp_name_beside(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return fsutil::parent_of(path) + "/" + std::string(kTmpPrefix) + std::to_string(getpid()) + "-" +
         std::to_string(counter++) + "-" + fsutil::base_name(path);
}

// Copies a local file into `to`, fsynced when `synced`.
void copy_file(const std::string& from, const std::string& to, bool synced) {
  std::error_code ec;
  if (!fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec))
    fail(from, "copying to " + to + ": " + ec.message());
  if (synced) fsutil::fsync_path(to);
}

}  // namespace

FilesystemBucket::FilesystemBucket(std::string directory) : dir_(std::move(directory)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) fail(dir_, "bucket directory does not exist");
}

std::string FilesystemBucket::path_of(const std::string& name) const {
  // Names come from listings and block ULIDs; refuse any that would leave the directory.
  if (!is_safe_relative_name(name)) fail(describe_object(name), "not a valid object name");
  return dir_ + "/" + name;
}

std::vector<ObjectInfo> FilesystemBucket::list(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  // Walk from the deepest directory the prefix names, then filter by the rest.
  std::string start_dir =
      prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
  fs::path root = start_dir.empty() ? fs::path(dir_) : fs::path(dir_) / start_dir;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) fail(root.string(), "listing: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(root.string(), "listing: " + ec.message());
    if (!it->is_regular_file(ec) || is_tmp(it->path())) continue;
    std::string name = fs::relative(it->path(), dir_).generic_string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back({name, uint64_t(it->file_size(ec))});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> FilesystemBucket::list_dirs(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& obj : list(prefix)) {
    size_t slash = obj.name.find('/', prefix.size());
    if (slash == std::string::npos) continue;
    std::string dir = obj.name.substr(0, slash + 1);
    if (out.empty() || out.back() != dir) out.push_back(dir);
  }
  return out;
}

std::optional<std::string> FilesystemBucket::get(const std::string& name) {
  std::string path = path_of(name);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  return fsutil::read_small_file(path);
}

void FilesystemBucket::download(const std::string& name, const std::string& local_path,
                                std::optional<uint64_t> expected_size) {
  std::string path = path_of(name);
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) fail(describe_object(name), "reading: " + ec.message());
  if (expected_size && size != *expected_size)
    fail(describe_object(name),
         "size " + std::to_string(size) + " bytes, expected " + std::to_string(*expected_size));
  std::string tmp = tmp_name_beside(local_path);
  try {
    copy_file(path, tmp, false);
    fsutil::rename_unsynced(tmp, local_path);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

bool FilesystemBucket::write_via_tmp(const std::string& name,
                                     const std::function<void(const std::string& tmp)>& fill,
                                     bool exclusive) {
  std::string path = path_of(name);
  fsutil::make_dirs(fsutil::parent_of(path));
  std::string tmp = tmp_name_beside(path);
  std::error_code ec;
  try {
    fill(tmp);
    if (!exclusive) {
      fsutil::rename_synced(tmp, path);
      return true;
    }
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  // link() fails when the name exists: an atomic create-if-absent.
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  fs::remove(tmp, ec);
  if (rc == 0) {
    fsutil::fsync_dir(fsutil::parent_of(path));
    return true;
  }
  if (err == EEXIST) return false;
  errno = err;
  fail_errno(describe_object(name), "creating");
}

void FilesystemBucket::put(const std::string& name, std::string_view bytes) {
  write_via_tmp(
      name, [&](const std::string& tmp) { fsutil::write_file_synced(tmp, std::string(bytes)); },
      false);
}

void FilesystemBucket::upload(const std::string& name, const std::string& local_path) {
  write_via_tmp(
      name, [&](const std::string& tmp) { copy_file(local_path, tmp, true); }, false);
}

CreateResult FilesystemBucket::create_if_absent(const std::string& name, std::string_view bytes) {
  bool created = write_via_tmp(
      name, [&](const std::string& tmp) { fsutil::write_file_synced(tmp, std::string(bytes)); },
      true);
  return created ? CreateResult::kCreated : CreateResult::kExists;
}

void FilesystemBucket::remove(const std::string& name) {
  std::string path = path_of(name);
  std::error_code ec;
  if (!fs::remove(path, ec) && ec) fail(describe_object(name), "removing: " + ec.message());
  // Directories exist only for the objects in them, as in an object store:
  // drop the ones this removal left empty, up to the bucket's root.
  for (fs::path dir = fs::path(path).parent_path(); dir.string().size() > dir_.size();
       dir = dir.parent_path()) {
    if (!fs::is_empty(dir, ec) || ec || !fs::remove(dir, ec)) break;
  }
}

}  // namespace promblock::objstore
