#include "tsdb/tombstones/tombstones.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <string>

#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace promblock {

namespace {

constexpr uint32_t kTombstonesMagic = 0x0130BA30;
constexpr uint8_t kTombstonesVersion = 1;
constexpr size_t kHeaderSize = 5;  // magic + version
constexpr size_t kCrcSize = 4;

}  // namespace

void add_interval(std::vector<Interval>& ivs, Interval n) {
  // First interval that ends at or after n.min_time - 1 (touching counts).
  auto first = ivs.begin();
  if (n.min_time != std::numeric_limits<int64_t>::min()) {
    first = std::partition_point(ivs.begin(), ivs.end(),
                                 [&](const Interval& iv) { return iv.max_time < n.min_time - 1; });
  }
  // One past the last interval that starts at or before n.max_time + 1.
  auto last = ivs.end();
  if (n.max_time != std::numeric_limits<int64_t>::max()) {
    last = std::partition_point(first, ivs.end(),
                                [&](const Interval& iv) { return iv.min_time <= n.max_time + 1; });
  }
  if (first == last) {
    ivs.insert(first, n);
    return;
  }
  first->min_time = std::min(first->min_time, n.min_time);
  first->max_time = std::max((last - 1)->max_time, n.max_time);
  ivs.erase(first + 1, last);
}

bool is_deleted(const std::vector<Interval>& ivs, int64_t t) {
  auto it = std::partition_point(ivs.begin(), ivs.end(),
                                 [&](const Interval& iv) { return iv.max_time < t; });
  return it != ivs.end() && it->min_time <= t;
}

Tombstones read_tombstones(const std::string& path) {
  // Read, not mapped: a block's tombstones file is a few bytes, and mapping
  // and unmapping it cost more (TLB shootdowns across the merge's threads).
  const std::optional<std::string> text = fsutil::read_regular_file_if_present(path);
  if (!text) return {};
  const auto b = std::span(reinterpret_cast<const uint8_t*>(text->data()), text->size());
  if (b.size() < kHeaderSize + kCrcSize) {
    fail(path, "tombstones file of " + std::to_string(b.size()) + " bytes is too short");
  }
  uint32_t magic = enc::load_be32(b.data());
  if (magic != kTombstonesMagic) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "wrong magic 0x%08" PRIX32 " (want 0x%08" PRIX32 ")", magic,
                  kTombstonesMagic);
    fail(path, buf);
  }
  if (b[4] != kTombstonesVersion) {
    fail(path, "unsupported tombstones version " + std::to_string(b[4]));
  }
  auto entries = b.subspan(kHeaderSize, b.size() - kHeaderSize - kCrcSize);
  uint32_t want = enc::load_be32(b.data() + b.size() - kCrcSize);
  uint32_t got = enc::crc32c(entries);
  if (!enc::checksum_ok(got, want)) {
    char buf[80];
    std::snprintf(buf, sizeof buf,
                  "checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")", want, got);
    fail(path, buf);
  }
  Tombstones out;
  enc::Decbuf d(entries);
  while (d.remaining() > 0) {
    uint64_t ref = d.uvarint();
    Interval iv{d.varint(), d.varint()};
    if (!d.ok()) {
      fail(path, "bad tombstone entry at byte " +
                     std::to_string(kHeaderSize + entries.size() - d.remaining()) + ": " + d.err());
    }
    if (iv.min_time > iv.max_time) {
      fail(path, "tombstone for series " + std::to_string(ref) + " has min time " +
                     std::to_string(iv.min_time) + " after max time " +
                     std::to_string(iv.max_time));
    }
    add_interval(out, ref, iv);
  }
  return out;
}

void write_tombstones(const std::string& path, const Tombstones& tombstones) {
  enc::Encbuf buf;
  buf.put_be32(kTombstonesMagic);
  buf.put_byte(kTombstonesVersion);
  for (const auto& [ref, intervals] : tombstones) {
    for (const Interval& iv : intervals) {
      buf.put_uvarint(ref);
      buf.put_varint(iv.min_time);
      buf.put_varint(iv.max_time);
    }
  }
  buf.put_crc32c_of(kHeaderSize);
  std::string tmp = path + ".tmp";
  fsutil::write_file_synced(tmp, buf.bytes(), /*mode=*/0666);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail_errno(path, "cannot rename " + tmp + " into place");
  }
  fsutil::fsync_dir(fsutil::parent_of(path));
}

}  // namespace promblock
