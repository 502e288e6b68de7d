#include "tsdb/remote/bucket_lock.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"

namespace promblock::remote {

namespace {

std::string this_process() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown pid " + std::to_string(getpid());
  return std::string(host) + " pid " + std::to_string(getpid());
}

}  // namespace

BucketLock::BucketLock(objstore::Bucket& bucket, std::string name, std::chrono::milliseconds expiry,
                       Now now)
    : bucket_(bucket),
      name_(std::move(name)),
      expiry_(expiry),
      now_(std::move(now)),
      holder_(this_process()) {
  auto r = try_create();
  if (r == objstore::CreateResult::kExists) {
    // Held, or left by a run that died: a holder that stopped refreshing
    // for `expiry` is gone, and its lock is taken over.
    auto text = bucket_.get(name_);
    nlohmann::json j = nlohmann::json::parse(text.value_or("{}"), nullptr, false);
    int64_t refreshed = j.is_object() ? j.value("refreshed_ms", int64_t(0)) : 0;
    std::string holder = j.is_object() ? j.value("holder", std::string("?")) : "?";
    if (text && now_() - refreshed < expiry_.count())
      throw LockedError(bucket_.describe_object(name_), "",
                        "locked by " + holder + ", refreshed " +
                            std::to_string((now_() - refreshed) / 1000) + "s ago");
    bucket_.remove(name_);
    r = try_create();
    if (r == objstore::CreateResult::kExists)
      throw LockedError(bucket_.describe_object(name_), "", "taken over by another run meanwhile");
  }
  held_ = r == objstore::CreateResult::kCreated;
  if (held_) refresher_ = std::thread([this] { refresh_loop(); });
}

BucketLock::~BucketLock() {
  if (!held_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  refresher_.join();
  try {
    bucket_.remove(name_);
  } catch (const std::exception&) {
    // Left behind: it expires, and the next run takes it over.
  }
}

std::string BucketLock::content(int64_t started, int64_t refreshed) const {
  nlohmann::json j;
  j["holder"] = holder_;
  j["started_ms"] = started;
  j["refreshed_ms"] = refreshed;
  return j.dump() + "\n";
}

objstore::CreateResult BucketLock::try_create() {
  started_ = now_();
  return bucket_.create_if_absent(name_, content(started_, started_));
}

void BucketLock::refresh_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, expiry_ / 3, [this] { return stop_; })) {
    lock.unlock();  // a slow request must not hold up the release
    try {
      bucket_.put(name_, content(started_, now_()));
    } catch (const std::exception&) {
      // A missed refresh is retried at the next tick; the expiry allows two.
    }
    lock.lock();
  }
}

}  // namespace promblock::remote
