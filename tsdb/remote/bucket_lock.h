#pragma once
// A lock object in a bucket, so that two runs meant to be one writer (two
// compactions of one group, from overlapping cron runs or from shards of
// different counts) do not both write. It is created with the store's
// atomic create-if-absent (S3: If-None-Match: *), refreshed by a background
// thread while held, taken over once its holder has not refreshed it for
// `expiry`, and removed when released. Each acquisition writes a token of
// its own into the object: a holder whose object no longer carries its
// token has lost the lock (taken over after a stall) and must not publish.
// A store that cannot create atomically gives no lock at all (kNotSupported
// from acquire); the caller says so, as one writer per group is then the
// operator's to keep.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tsdb/objstore/bucket.h"

namespace promblock::remote {

class BucketLock {
 public:
  using Now = std::function<int64_t()>;  // Unix ms

  enum class Outcome { kHeld, kHeldByOther, kNotSupported };
  struct Attempt {
    Outcome outcome = Outcome::kNotSupported;
    std::unique_ptr<BucketLock> lock;  // set when kHeld
    std::string held_by;               // kHeldByOther: "HOST pid N, refreshed Ns ago"
  };

  // Takes the lock object `name` unless a live holder has it; a holder
  // that stopped refreshing for `expiry` is gone and is taken over.
  static Attempt acquire(objstore::Bucket& bucket, std::string name,
                         std::chrono::milliseconds expiry, Now now);
  ~BucketLock();
  BucketLock(const BucketLock&) = delete;
  BucketLock& operator=(const BucketLock&) = delete;

  // Throws Error naming the object when the lock is no longer this
  // holder's (taken over, removed): call right before publishing.
  void check() const;
  const std::string& name() const { return name_; }

 private:
  BucketLock(objstore::Bucket& bucket, std::string name, std::chrono::milliseconds expiry, Now now);
  std::string content(int64_t refreshed) const;
  objstore::CreateResult try_create();
  // True when the object still carries this acquisition's token.
  bool still_mine() const;
  void refresh_loop();

  objstore::Bucket& bucket_;
  std::string name_;
  std::chrono::milliseconds expiry_;
  Now now_;
  std::string holder_;  // "HOST pid N", for the other runs' messages
  std::string token_;   // unique per acquisition
  int64_t started_ = 0;
  std::atomic<bool> lost_{false};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread refresher_;
};

}  // namespace promblock::remote
