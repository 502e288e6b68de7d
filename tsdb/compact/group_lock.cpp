#include "tsdb/compact/group_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace promblock::compact {

namespace {

std::string this_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string random_token() {
  std::random_device rd;
  uint64_t v = (uint64_t(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// The file's text, or nullopt when it does not exist (any more).
std::optional<std::string> read_if_exists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail_errno(path, "cannot open lock file");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      fail_errno(path, "cannot read lock file");
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > (1 << 20)) break;  // not a lock file of ours
  }
  ::close(fd);
  return text;
}

// Creates `path` empty in its directory, making the directory first.
// Another process removes the directory when it leaves it empty, so it can
// vanish between the two steps: false then, to try again. Once the file
// exists, the directory is not empty and stays.
bool create_scratch_file(const std::string& path) {
  fsutil::make_dirs(std::filesystem::path(path).parent_path().string());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    fail_errno(path, "cannot create");
  }
  ::close(fd);
  return true;
}

std::string render(const LockHolder& h) {
  nlohmann::ordered_json j;
  j["group"] = h.group;
  j["owner"] = h.owner;
  j["host"] = h.host;
  j["pid"] = h.pid;
  j["heartbeat_ms"] = h.heartbeat_ms;
  j["expiry_ms"] = h.expiry_ms;
  j["writing"] = h.writing;
  return j.dump() + "\n";
}

}  // namespace

std::string LockHolder::describe() const {
  if (owner.empty()) return "an unreadable lock";
  return "host " + host + " pid " + std::to_string(pid);
}

LockHolder parse_lock(const std::string& text) {
  LockHolder h;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return h;
  try {
    h.group = j.value("group", "");
    h.owner = j.value("owner", "");
    h.host = j.value("host", "");
    h.pid = j.value("pid", int64_t(0));
    h.heartbeat_ms = j.value("heartbeat_ms", int64_t(0));
    h.expiry_ms = j.value("expiry_ms", int64_t(0));
    if (j.contains("writing"))
      for (const auto& w : j["writing"]) h.writing.push_back(w.get<std::string>());
  } catch (const nlohmann::json::exception&) {
    return {};
  }
  return h;
}

bool lock_is_stale(const LockHolder& holder, int64_t now, const std::string& host) {
  if (holder.heartbeat_ms + holder.expiry_ms < now) return true;
  // A holder on this host that is gone (killed, crashed) needs no waiting.
  if (holder.host == host && holder.pid > 0 && ::kill(pid_t(holder.pid), 0) != 0 && errno == ESRCH)
    return true;
  return false;
}

// --- GroupLock ---

GroupLock::GroupLock(GroupLockSet& set, std::string path, std::string group)
    : set_(set), path_(std::move(path)), group_(std::move(group)) {
  token_ = random_token();
  owner_ = set_.host_ + ":" + std::to_string(::getpid()) + ":" + token_;
}

GroupLock::~GroupLock() {
  std::lock_guard<std::mutex> g(mutex_);
  try {
    auto text = read_if_exists(path_);
    if (text && parse_lock(*text).owner == owner_) ::unlink(path_.c_str());
  } catch (const std::exception&) {
    // A lock left behind expires; nothing else to do here.
  }
}

void GroupLock::write_locked() {
  if (lost_) return;
  auto text = read_if_exists(path_);
  if (!text || parse_lock(*text).owner != owner_) {
    lost_ = true;
    return;
  }
  LockHolder h{group_,
               owner_,
               set_.host_,
               int64_t(::getpid()),
               set_.clock_(),
               set_.expiry_.count(),
               std::vector<std::string>(writing_.begin(), writing_.end())};
  std::string tmp = path_ + set_.scratch_suffix(token_) + ".tmp";
  fsutil::write_file_synced(tmp, render(h));
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail_errno(path_, "cannot refresh lock file");
  }
}

void GroupLock::heartbeat() {
  std::lock_guard<std::mutex> g(mutex_);
  write_locked();
}

void GroupLock::add_writing(const std::string& tmp_dir_name) {
  std::lock_guard<std::mutex> g(mutex_);
  writing_.insert(tmp_dir_name);
  write_locked();
  if (lost_) throw Error(path_ + ": lock for group " + group_ + " was taken over; stopping");
}

void GroupLock::remove_writing(const std::string& tmp_dir_name) {
  std::lock_guard<std::mutex> g(mutex_);
  writing_.erase(tmp_dir_name);
  try {
    write_locked();
  } catch (const std::exception&) {
    // The next heartbeat tries again; a stale entry only delays a cleanup.
  }
}

void GroupLock::check() const {
  if (lost_) throw Error(path_ + ": lock for group " + group_ + " was taken over; stopping");
}

// --- GroupLockSet ---

GroupLockSet::GroupLockSet(std::string out_dir, std::chrono::milliseconds expiry, Clock clock)
    : out_dir_(std::move(out_dir)),
      lock_dir_(out_dir_ + "/" + kLockDirName),
      expiry_(expiry),
      clock_(std::move(clock)),
      host_(this_host()) {
  fsutil::make_dirs(lock_dir_);
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
}

GroupLockSet::~GroupLockSet() {
  {
    std::lock_guard<std::mutex> g(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  heartbeat_thread_.join();
  // Leave no trace when no one holds a lock (fails harmlessly otherwise).
  ::rmdir(lock_dir_.c_str());
}

std::string GroupLockSet::scratch_suffix(const std::string& token) const {
  return "." + host_ + "." + std::to_string(::getpid()) + "." + token;
}

std::string group_lock_name(uint64_t group_hash) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 ".lock", group_hash);
  return buf;
}

std::string GroupLockSet::lock_path(uint64_t group_hash) const {
  return lock_dir_ + "/" + group_lock_name(group_hash);
}

void GroupLockSet::heartbeat_loop() {
  auto period = std::max(std::chrono::milliseconds(50), expiry_ / 10);
  std::unique_lock<std::mutex> g(mutex_);
  while (!stopping_) {
    wake_.wait_for(g, period, [this] { return stopping_; });
    if (stopping_) break;
    g.unlock();
    heartbeat_all();
    g.lock();
  }
}

void GroupLockSet::heartbeat_all() {
  std::vector<std::shared_ptr<GroupLock>> held;
  {
    std::lock_guard<std::mutex> g(mutex_);
    for (auto& w : locks_)
      if (auto l = w.lock()) held.push_back(std::move(l));
    std::erase_if(locks_, [](const auto& w) { return w.expired(); });
  }
  for (auto& l : held) {
    try {
      l->heartbeat();
    } catch (const std::exception&) {
      // Shared storage hiccup: the next beat tries again before expiry.
    }
  }
  // `held` may hold the last reference: a lock is released here, outside
  // mutex_.
}

std::shared_ptr<GroupLock> GroupLockSet::try_acquire(uint64_t group_hash, const std::string& group,
                                                     LockHolder& holder) {
  std::string path = lock_path(group_hash);
  std::shared_ptr<GroupLock> lock(new GroupLock(*this, path, group));
  const std::string& token = lock->token_;
  std::string tmp = path + scratch_suffix(token) + ".tmp";
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (!create_scratch_file(tmp)) continue;  // the directory vanished; make it again
    LockHolder mine{group, lock->owner_, host_, int64_t(::getpid()), clock_(), expiry_.count(), {}};
    fsutil::write_file_synced(tmp, render(mine));
    // link(2) fails if the lock exists: exactly one creator wins, NFS too.
    if (::link(tmp.c_str(), path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      std::lock_guard<std::mutex> g(mutex_);
      locks_.push_back(lock);
      return lock;
    }
    if (errno != EEXIST) {
      ::unlink(tmp.c_str());
      fail_errno(path, "cannot create lock file");
    }
    auto text = read_if_exists(path);
    if (!text) continue;  // released meanwhile
    LockHolder current = parse_lock(*text);
    if (current.owner.empty()) {
      // Unreadable (say, a foreign or damaged file): judge by its age.
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0) {
        current.heartbeat_ms = int64_t(st.st_mtime) * 1000;
        current.expiry_ms = expiry_.count();
      }
    }
    if (!lock_is_stale(current, clock_(), host_)) {
      ::unlink(tmp.c_str());
      holder = current;
      return nullptr;
    }
    // Stale: move it aside. Only one of several takers can rename it.
    std::string aside = path + scratch_suffix(token) + ".stale";
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      if (errno == ENOENT) continue;
      ::unlink(tmp.c_str());
      fail_errno(path, "cannot take over stale lock file");
    }
    auto moved = read_if_exists(aside);
    LockHolder was = moved ? parse_lock(*moved) : LockHolder{};
    if (!was.owner.empty() && !lock_is_stale(was, clock_(), host_)) {
      // Its holder came back just now: give the lock back.
      (void)::link(aside.c_str(), path.c_str());
      ::unlink(aside.c_str());
      ::unlink(tmp.c_str());
      holder = was;
      return nullptr;
    }
    ::unlink(aside.c_str());
    lock->inherited_.insert(lock->inherited_.end(), was.writing.begin(), was.writing.end());
  }
  ::unlink(tmp.c_str());
  throw Error(path + ": lock keeps changing hands; giving up");
}

void GroupLockSet::remove_dead_locks() {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(lock_dir_, ec), end; !ec && it != end;
       it.increment(ec))
    names.push_back(it->path().filename().string());
  for (const auto& name : names) {
    std::string path = lock_dir_ + "/" + name;
    if (name.size() == 16 + 5 && name.ends_with(".lock")) {
      // A stale lock of a group no one works on: take it over and let go.
      uint64_t hash = std::strtoull(name.substr(0, 16).c_str(), nullptr, 16);
      auto text = read_if_exists(path);
      if (!text) continue;
      LockHolder h = parse_lock(*text);
      if (h.owner.empty() || !lock_is_stale(h, clock_(), host_)) continue;
      LockHolder holder;
      (void)try_acquire(hash, h.group, holder);
      continue;
    }
    // Scratch files "<lock>.<host>.<pid>.<token>.tmp|.stale": gone with
    // their writer, which is dead when it ran here and its pid is gone.
    if (!name.ends_with(".tmp") && !name.ends_with(".stale")) continue;
    auto parts_end = name.rfind('.');
    auto token_at = name.rfind('.', parts_end - 1);
    auto pid_at = token_at == std::string::npos ? std::string::npos : name.rfind('.', token_at - 1);
    if (pid_at == std::string::npos || pid_at < 22) continue;
    std::string host = name.substr(22, pid_at - 22);
    int64_t pid = std::strtoll(name.substr(pid_at + 1, token_at - pid_at - 1).c_str(), nullptr, 10);
    struct stat st {};
    bool old =
        ::stat(path.c_str(), &st) == 0 && int64_t(st.st_mtime) * 1000 + expiry_.count() < clock_();
    bool dead = host == host_ && pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
    if (old || dead) ::unlink(path.c_str());
  }
}

std::set<std::string> GroupLockSet::live_writing() const {
  std::set<std::string> live;
  std::error_code ec;
  int64_t now = clock_();
  for (std::filesystem::directory_iterator it(lock_dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.ends_with(".lock")) continue;
    auto text = read_if_exists(it->path().string());
    if (!text) continue;
    LockHolder h = parse_lock(*text);
    if (h.owner.empty() || lock_is_stale(h, now, host_)) continue;
    live.insert(h.writing.begin(), h.writing.end());
  }
  return live;
}

}  // namespace promblock::compact
