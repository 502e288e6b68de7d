#include "tsdb/remote/bucket_lock.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tsdb/base/error.h"
#include "tsdb/base/ulid.h"

namespace promblock::remote {

namespace {

std::string this_process() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown pid " + std::to_string(getpid());
  return std::string(host) + " pid " + std::to_string(getpid());
}

nlohmann::json parse_lock(const std::optional<std::string>& text) {
  if (!text) return nlohmann::json::object();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

BucketLock::BucketLock(objstore::Bucket& bucket, std::string name, std::chrono::milliseconds expiry,
                       Now now)
    : bucket_(bucket),
      name_(std::move(name)),
      expiry_(expiry),
      now_(std::move(now)),
      holder_(this_process()),
      token_(new_ulid()) {}

BucketLock::Attempt BucketLock::acquire(objstore::Bucket& bucket, std::string name,
                                        std::chrono::milliseconds expiry, Now now) {
  Attempt a;
  std::unique_ptr<BucketLock> lock(new BucketLock(bucket, std::move(name), expiry, std::move(now)));
  auto r = lock->try_create();
  if (r == objstore::CreateResult::kExists) {
    auto j = parse_lock(bucket.get(lock->name_));
    int64_t age = lock->now_() - j.value("refreshed_ms", int64_t(0));
    if (age < expiry.count()) {
      a.outcome = Outcome::kHeldByOther;
      a.held_by = j.value("holder", std::string("an unknown run")) + ", refreshed " +
                  std::to_string(age / 1000) + "s ago";
      return a;
    }
    // Left by a run that died: taken over. Another taker racing us may
    // remove our fresh object in turn; the token check makes one of us
    // find out before publishing.
    bucket.remove(lock->name_);
    r = lock->try_create();
    if (r == objstore::CreateResult::kExists) {
      a.outcome = Outcome::kHeldByOther;
      a.held_by = parse_lock(bucket.get(lock->name_)).value("holder", std::string("another run")) +
                  ", which took it over meanwhile";
      return a;
    }
  }
  if (r == objstore::CreateResult::kNotSupported) return a;
  lock->refresher_ = std::thread([l = lock.get()] { l->refresh_loop(); });
  a.outcome = Outcome::kHeld;
  a.lock = std::move(lock);
  return a;
}

BucketLock::~BucketLock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  try {
    if (still_mine()) bucket_.remove(name_);
  } catch (const std::exception&) {
    // Left behind: it expires, and the next run takes it over.
  }
}

void BucketLock::check() const {
  if (lost_.load() || !still_mine())
    fail(bucket_.describe_object(name_),
         "lock lost: another run took it over (this run stalled longer than the lock expiry)");
}

std::string BucketLock::content(int64_t refreshed) const {
  nlohmann::json j;
  j["holder"] = holder_;
  j["token"] = token_;
  j["started_ms"] = started_;
  j["refreshed_ms"] = refreshed;
  j["expiry_ms"] = expiry_.count();
  return j.dump() + "\n";
}

objstore::CreateResult BucketLock::try_create() {
  started_ = now_();
  return bucket_.create_if_absent(name_, content(started_));
}

bool BucketLock::still_mine() const {
  return parse_lock(bucket_.get(name_)).value("token", std::string()) == token_;
}

void BucketLock::refresh_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, expiry_ / 10, [this] { return stop_; })) {
    lock.unlock();  // a slow request must not hold up the release
    try {
      // Never overwrite a taker's object: once lost, stay lost.
      if (!still_mine()) {
        lost_ = true;
        return;
      }
      bucket_.put(name_, content(now_()));
    } catch (const std::exception&) {
      // A missed refresh is retried at the next tick; the expiry allows nine.
    }
    lock.lock();
  }
}

}  // namespace promblock::remote
