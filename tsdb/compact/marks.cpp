#include "tsdb/compact/marks.h"

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/block/leftovers.h"

namespace promblock::compact {

void write_deletion_mark(const std::string& block_dir, const std::string& ulid,
                         const std::string& details, int64_t now_unix_s) {
  nlohmann::ordered_json j;
  j["id"] = ulid;
  j["version"] = 1;
  j["details"] = details;
  j["deletion_time"] = now_unix_s;
  std::string path = block_dir + "/" + kDeletionMark;
  fsutil::write_file_synced(path + ".tmp", j.dump(1, '\t') + "\n");
  fsutil::rename_synced(path + ".tmp", path);
}

std::optional<int64_t> deletion_time(const std::string& block_dir, int64_t now_unix_s) {
  std::string path = block_dir + "/" + kDeletionMark;
  if (::access(path.c_str(), F_OK) != 0) return std::nullopt;
  // A mark that cannot be read fails the run (naming it) rather than
  // counting as a fresh mark.
  std::string text = fsutil::read_small_file(path);
  try {
    auto j = nlohmann::json::parse(text);
    if (j.contains("deletion_time") && j["deletion_time"].is_number_integer())
      return j["deletion_time"].get<int64_t>();
  } catch (const std::exception&) {
  }
  return now_unix_s;
}

void delete_block(const std::string& block_dir) {
  std::string doomed = block_dir + std::string(kTmpForDeletionSuffix);
  std::error_code ec;
  std::filesystem::remove_all(doomed, ec);
  fsutil::rename_synced(block_dir, doomed);
  std::filesystem::remove_all(doomed, ec);
  // Another process removing it too is no failure.
  if (ec && std::filesystem::exists(doomed)) fail(doomed, "cannot remove: " + ec.message());
}

}  // namespace promblock::compact
