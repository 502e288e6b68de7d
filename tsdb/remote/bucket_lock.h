#pragma once
// A lock object in a bucket, so that two runs meant to be one writer (two
// overlapping cron runs of one compaction shard) do not both write. It is
// created with the store's atomic create-if-absent (S3: If-None-Match: *),
// refreshed by a background thread while held, taken over once its holder
// has not refreshed it for `expiry`, and removed when released. A store
// that cannot create atomically gets no lock: held() is false, and the
// caller says so (one writer per group is then the operator's to keep).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "tsdb/objstore/bucket.h"

namespace promblock::remote {

class BucketLock {
 public:
  using Now = std::function<int64_t()>;  // Unix ms

  // Takes the lock object `name`; throws LockedError naming the object and
  // its holder when a live holder has it.
  BucketLock(objstore::Bucket& bucket, std::string name, std::chrono::milliseconds expiry, Now now);
  ~BucketLock();
  BucketLock(const BucketLock&) = delete;
  BucketLock& operator=(const BucketLock&) = delete;

  bool held() const { return held_; }

 private:
  std::string content(int64_t started, int64_t refreshed) const;
  objstore::CreateResult try_create();
  void refresh_loop();

  objstore::Bucket& bucket_;
  std::string name_;
  std::chrono::milliseconds expiry_;
  Now now_;
  std::string holder_;
  int64_t started_ = 0;
  bool held_ = false;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread refresher_;
};

}  // namespace promblock::remote
