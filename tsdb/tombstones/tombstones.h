#pragma once
// A block's tombstones file (Prometheus tsdb/docs/format/tombstones.md):
//   magic 0x0130BA30 (4, big-endian) | version 1 (1) |
//   entries: series ref (uvarint) | min time (varint) | max time (varint) |
//   CRC32-C (4, over the entries only, not the version byte)
// One entry per deleted interval. Intervals are inclusive at both ends.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace promblock {

struct Interval {
  int64_t min_time, max_time;  // both inclusive
  bool operator==(const Interval&) const = default;
};

// Series ref -> its deleted intervals, sorted, non-overlapping and
// non-adjacent (as kept by add_interval).
using Tombstones = std::map<uint64_t, std::vector<Interval>>;

// Adds `iv` to sorted intervals, merging it with those it overlaps or
// touches (timestamps are integers, so [1,2] and [3,4] become [1,4]), as
// Prometheus's Intervals.Add does.
void add_interval(std::vector<Interval>& intervals, Interval iv);
inline void add_interval(Tombstones& tombstones, uint64_t series_ref, Interval iv) {
  add_interval(tombstones[series_ref], iv);
}

// Whether t lies in one of the sorted intervals.
bool is_deleted(const std::vector<Interval>& intervals, int64_t t);

// Reads a tombstones file; a missing file means no tombstones. Throws
// promblock::Error naming the file on any other failure or corruption.
Tombstones read_tombstones(const std::string& path);

// Writes the file atomically (temporary file, fsync, rename, fsync of the
// directory). Entries are written in series ref order.
void write_tombstones(const std::string& path, const Tombstones& tombstones);

}  // namespace promblock
