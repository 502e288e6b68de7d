#include "tsdb/compact/run_locks.h"

#include <filesystem>
#include <vector>

#include "tsdb/block/block_writer.h"
#include "tsdb/block/leftovers.h"

namespace promblock::compact {

RunLocks::RunLocks(const std::string& out_dir, bool shared, std::chrono::milliseconds expiry,
                   Clock clock)
    : out_dir_(out_dir),
      dir_lock_(out_dir, shared ? DirLock::Mode::kShared : DirLock::Mode::kExclusive),
      lock_set_(out_dir, expiry, std::move(clock)) {}

std::set<std::string> RunLocks::lock_groups(
    const std::map<std::string, uint64_t>& groups,
    const std::function<void(const std::string& group, const LockHolder&)>& refused) {
  std::set<std::string> held;
  for (const auto& [text, hash] : groups) {
    LockHolder holder;
    if (auto lock = lock_set_.try_acquire(hash, text, holder)) {
      locks_[text] = std::move(lock);
      held.insert(text);
    } else {
      refused(text, holder);
    }
  }
  return held;
}

std::shared_ptr<GroupLock> RunLocks::lock_of(const std::string& group) const {
  auto it = locks_.find(group);
  return it == locks_.end() ? nullptr : it->second;
}

void RunLocks::remove_dead_tmp_dirs() {
  lock_set_.remove_dead_locks();
  std::vector<std::filesystem::path> creating, deleting;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(out_dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(BlockWriter::kTmpSuffix)) creating.push_back(it->path());
    if (name.ends_with(kTmpForDeletionSuffix)) deleting.push_back(it->path());
  }
  // Read after listing: a writer lists its dir before creating it.
  auto live = lock_set_.live_writing();
  for (const auto& p : creating)
    if (!live.count(p.filename().string())) std::filesystem::remove_all(p, ec);
  for (const auto& p : deleting) std::filesystem::remove_all(p, ec);
}

}  // namespace promblock::compact
