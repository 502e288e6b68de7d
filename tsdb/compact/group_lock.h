#pragma once
// Per-group locks in shared storage, so that compaction processes on many
// machines (shards) never work on one group at once. A lock is a small JSON
// file, <out>/.promblock-locks/<group hash>.lock, created with link(2) so
// that exactly one process wins even on NFS. Its holder rewrites it (a
// heartbeat) every tenth of the expiry; a lock whose heartbeat is older than
// the expiry the holder wrote into it, or whose holder ran on this host
// and is gone, is taken over. A holder that finds its lock gone or taken
// stops its jobs before they publish anything.
//
// The lock also lists the temporary block directories its holder is
// writing, so that a cleanup removes only the leftovers of dead holders.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tsdb/compact/clock.h"

namespace promblock::compact {

inline constexpr const char* kLockDirName = ".promblock-locks";

// A group's lock file name in kLockDirName ("<16 hex digits of the group
// hash>.lock"); a bucket's group lock objects are named alike.
std::string group_lock_name(uint64_t group_hash);

// What a lock file says about its holder.
struct LockHolder {
  std::string group;  // the group's labels as text
  std::string owner;  // host:pid:token, unique per acquisition
  std::string host;
  int64_t pid = 0;
  int64_t heartbeat_ms = 0;          // Unix ms of the last heartbeat
  int64_t expiry_ms = 0;             // the holder's promise: heartbeats come sooner
  std::vector<std::string> writing;  // temporary dirs in the output directory
  std::string describe() const;      // "host h pid 123"
};

class GroupLockSet;

// One held group lock; released (file removed) when destroyed.
class GroupLock {
 public:
  ~GroupLock();
  GroupLock(const GroupLock&) = delete;
  GroupLock& operator=(const GroupLock&) = delete;

  // Records a temporary directory before it is created / after it is gone.
  void add_writing(const std::string& tmp_dir_name);
  void remove_writing(const std::string& tmp_dir_name);
  // Throws Error when the lock was lost (taken over, removed): call right
  // before publishing.
  void check() const;
  bool lost() const { return lost_.load(); }
  // The temporary dirs a dead holder left, when this lock was taken over.
  const std::vector<std::string>& inherited_writing() const { return inherited_; }

 private:
  friend class GroupLockSet;
  GroupLock(GroupLockSet& set, std::string path, std::string group);
  void write_locked();  // rewrites the file with a fresh heartbeat; mutex_ held
  void heartbeat();

  GroupLockSet& set_;
  std::string path_;
  std::string group_;
  std::string token_;  // random, names this acquisition's scratch files
  std::string owner_;  // host:pid:token
  mutable std::mutex mutex_;
  std::set<std::string> writing_;
  std::vector<std::string> inherited_;
  std::atomic<bool> lost_{false};
};

// The locks of one process in one output directory, and the thread that
// keeps their heartbeats going.
class GroupLockSet {
 public:
  // `clock` dates heartbeats and judges other holders' ones.
  GroupLockSet(std::string out_dir, std::chrono::milliseconds expiry, Clock clock = system_now_ms);
  ~GroupLockSet();
  GroupLockSet(const GroupLockSet&) = delete;
  GroupLockSet& operator=(const GroupLockSet&) = delete;

  // The lock of `group` (its text names it in the file), or nullptr with
  // `holder` filled when a live process holds it.
  std::shared_ptr<GroupLock> try_acquire(uint64_t group_hash, const std::string& group,
                                         LockHolder& holder);
  // Temporary dirs listed by live locks (held by anyone).
  std::set<std::string> live_writing() const;
  // Removes what dead processes left in the lock directory: stale locks
  // (taken over and released) and half-written lock files.
  void remove_dead_locks();
  // Refreshes every held lock now (the heartbeat thread's work, callable
  // directly so that a test decides when beats happen).
  void heartbeat_all();

  const std::string& out_dir() const { return out_dir_; }
  std::chrono::milliseconds expiry() const { return expiry_; }

 private:
  friend class GroupLock;
  std::string lock_path(uint64_t group_hash) const;
  // Name suffix of this process's scratch files: ".<host>.<pid>.<token>".
  std::string scratch_suffix(const std::string& token) const;
  void heartbeat_loop();

  std::string out_dir_;
  std::string lock_dir_;
  std::chrono::milliseconds expiry_;
  Clock clock_;
  std::string host_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::weak_ptr<GroupLock>> locks_;
  std::thread heartbeat_thread_;
};

// Parses a lock file's text; nullopt-like empty owner when it is not one.
LockHolder parse_lock(const std::string& text);
// True when `holder` no longer holds its lock at `now_ms`: its heartbeat is
// older than its expiry, or it ran on `this_host` and its pid is gone.
bool lock_is_stale(const LockHolder& holder, int64_t now_ms, const std::string& this_host);

}  // namespace promblock::compact
