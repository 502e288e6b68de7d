#pragma once
// The locks a compaction run holds in its output directory: the directory
// lock (shared among sharded processes, else exclusive), then a lock per
// output group it works on, so that processes on other machines leave those
// groups alone. Also clears what dead writers left, which only a lock
// holder may judge.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "tsdb/base/dir_lock.h"
#include "tsdb/compact/clock.h"
#include "tsdb/compact/group_lock.h"

namespace promblock::compact {

class RunLocks {
 public:
  // Takes the directory lock (throws LockedError when another run holds
  // it).
  RunLocks(const std::string& out_dir, bool shared, std::chrono::milliseconds expiry, Clock clock);

  // Locks each group of `groups` (text -> hash) that no live process holds;
  // `refused` hears of each of the others and who holds it. Returns the
  // texts locked.
  std::set<std::string> lock_groups(
      const std::map<std::string, uint64_t>& groups,
      const std::function<void(const std::string& group, const LockHolder&)>& refused);
  // The held lock of a group lock_groups() returned.
  std::shared_ptr<GroupLock> lock_of(const std::string& group) const;

  // Removes temporary dirs of dead writers: creation dirs no live group
  // lock lists, and all deletion dirs (a deleter racing us wants them
  // gone too); and dead processes' lock files.
  void remove_dead_tmp_dirs();

 private:
  std::string out_dir_;
  // Destroyed last: the group locks below need their set, and others may
  // take the directory only once the groups are free.
  DirLock dir_lock_;
  GroupLockSet lock_set_;
  std::map<std::string, std::shared_ptr<GroupLock>> locks_;
};

}  // namespace promblock::compact
