#pragma once
// An exclusive lock on an output directory, so that two promblock runs
// (say, overlapping cron jobs) never write into it at once. It is an
// flock(2) on DIR/.promblock.lock: released by the kernel when the process
// dies, so a crashed run never leaves a stale lock behind.
#include <string>

#include "tsdb/base/error.h"

namespace promblock {

// Thrown when another process holds the lock (the CLI exits 75).
class LockedError : public Error {
 public:
  using Error::Error;
};

class DirLock {
 public:
  // Shared holders (sharded compaction processes, which lock groups among
  // themselves) exclude exclusive ones and vice versa.
  enum class Mode { kExclusive, kShared };
  // Creates DIR if needed and takes the lock, or throws LockedError.
  explicit DirLock(const std::string& dir, Mode mode = Mode::kExclusive);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  static constexpr const char* kFileName = ".promblock.lock";

 private:
  int fd_ = -1;
  Mode mode_;
};

}  // namespace promblock
