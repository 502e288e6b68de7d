#include "tsdb/block/discover.h"

#include <algorithm>
#include <filesystem>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"

namespace fs = std::filesystem;

namespace promblock {

namespace {

FoundBlock load_block(const std::string& dir, const std::string& source) {
  FoundBlock b;
  b.dir = dir;
  b.source = source;
  b.meta = read_meta(dir);
  std::error_code ec;
  b.deletion_marked = fs::exists(dir + "/deletion-mark.json", ec);
  b.no_compact_marked = fs::exists(dir + "/no-compact-mark.json", ec);
  return b;
}

}  // namespace

std::vector<FoundBlock> discover_blocks(const std::string& source) {
  std::error_code ec;
  auto st = fs::status(source, ec);
  if (ec || !fs::exists(st)) fail(source, "no such file or directory");
  if (!fs::is_directory(st)) fail(source, "not a directory");

  std::vector<FoundBlock> blocks;
  if (fs::exists(source + "/meta.json", ec)) {
    blocks.push_back(load_block(source, source));
    return blocks;
  }
  std::vector<std::string> dirs;
  for (fs::directory_iterator it(source, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    // Only ULID-named directories can be blocks; this skips wal/,
    // chunks_head/, lock files and "<ULID>.tmp-for-creation" leftovers.
    if (!is_ulid(name) || !it->is_directory(ec)) continue;
    // A ULID dir without meta.json is a partial block (upload or write cut
    // short): never read it as a block.
    if (!fs::exists(it->path() / "meta.json", ec)) continue;
    dirs.push_back(it->path().string());
  }
  if (ec) fail(source, "cannot list directory: " + ec.message());
  for (const auto& d : dirs) blocks.push_back(load_block(d, source));
  std::sort(blocks.begin(), blocks.end(), [](const FoundBlock& a, const FoundBlock& b) {
    if (a.meta.min_time != b.meta.min_time) return a.meta.min_time < b.meta.min_time;
    return a.meta.ulid < b.meta.ulid;
  });
  return blocks;
}

std::vector<FoundBlock> discover_blocks(const std::vector<std::string>& sources) {
  std::vector<FoundBlock> all;
  for (const auto& s : sources) {
    auto b = discover_blocks(s);
    all.insert(all.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  }
  return all;
}

}  // namespace promblock
