#include "tsdb/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "tsdb/block/block_writer.h"
#include "tsdb/fsutil.h"

namespace promblock {

DirLock::DirLock(const std::string& dir) {
  fsutil::make_dirs(dir);
  std::string path = dir + "/" + kFileName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_errno(path, "cannot open lock file");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      // The holder wrote its pid into the file; name it so users can look.
      char buf[32] = {};
      ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, size_t(n)) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      ::close(fd_);
      fd_ = -1;
      throw LockedError(path + ": locked by another promblock (pid " + holder +
                        "); try again later");
    }
    ::close(fd_);
    fd_ = -1;
    errno = e;
    fail_errno(path, "cannot lock");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0)
    fail_errno(path, "cannot write lock file");
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

void remove_leftover_tmp_dirs(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    // Creation leftovers are partial blocks; deletion leftovers are blocks
    // a killed run was removing.
    if (name.ends_with(BlockWriter::kTmpSuffix) || name.ends_with(kTmpForDeletionSuffix))
      std::filesystem::remove_all(it->path(), ec);
  }
}

}  // namespace promblock
