#include "tsdb/base/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tsdb/base/fsutil.h"

namespace promblock {

DirLock::DirLock(const std::string& dir, Mode mode) : mode_(mode) {
  fsutil::make_dirs(dir);
  std::string path = dir + "/" + kFileName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_errno(path, "cannot open lock file");
  if (::flock(fd_, (mode == Mode::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      // The holder writes its pid into the file right after locking it;
      // name it so users can look. A holder that has only just locked may
      // not have written it yet: give it a moment. Shared holders write
      // nothing (there may be many).
      std::string holder;
      for (int attempt = 0; attempt < 200 && holder.empty(); ++attempt) {
        if (attempt > 0) ::usleep(1000);
        char buf[32] = {};
        ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        if (n > 0) holder.assign(buf, strnlen(buf, size_t(n)));
        holder = holder.substr(0, holder.find('\n'));  // the first line is the pid
      }
      ::close(fd_);
      fd_ = -1;
      if (holder.empty())
        throw LockedError(path + ": locked by running sharded compactions; " + "try again later");
      throw LockedError(path + ": locked by another promblock (pid " + holder +
                        "); try again later");
    }
    ::close(fd_);
    fd_ = -1;
    errno = e;
    fail_errno(path, "cannot lock");
  }
  if (mode == Mode::kShared) {
    // No exclusive holder can exist now: clear a pid a killed one left.
    if (::ftruncate(fd_, 0) != 0) fail_errno(path, "cannot write lock file");
    return;
  }
  // The pid first, then cut what a longer earlier pid left after it: the
  // file never looks empty to a reader once a pid was written.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::pwrite(fd_, pid.data(), pid.size(), 0) < 0 || ::ftruncate(fd_, off_t(pid.size())) != 0)
    fail_errno(path, "cannot write lock file");
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  // No pid left behind to name a holder that is gone.
  if (mode_ == Mode::kExclusive) (void)::ftruncate(fd_, 0);
  ::close(fd_);
}

}  // namespace promblock
