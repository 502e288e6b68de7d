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
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK)
      throw LockedError(path + ": locked by another promblock; try again later");
    errno = e;
    fail_errno(path, "cannot lock");
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

void remove_leftover_tmp_dirs(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(BlockWriter::kTmpSuffix)) std::filesystem::remove_all(it->path(), ec);
  }
}

}  // namespace promblock
