#include "tsdb/base/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tsdb/base/error.h"

namespace promblock {

void write_fully(int fd, std::span<const uint8_t> bytes, const std::string& name) {
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(name, "write failed");
    }
    p += n;
    left -= size_t(n);
  }
}

// Asks for fdatasync of a file on a thread of its own while the writer goes
// on, so that the fsync in close() has little left to wait for. Starting
// writeback with sync_file_range alone is not enough: on this project's
// test VM the final fsync of a 77 MB chunk segment still took 38 ms (the
// whole merge takes 300), and 2 ms with a sync every 8 MiB on the way.
class FileWriter::Syncer {
 public:
  Syncer(int fd, bool drop_behind)
      : fd_(fd), drop_behind_(drop_behind), thread_([this] { run(); }) {}
  ~Syncer() { stop(); }

  // Requests a sync (of the whole file) after which drop-behind drops the
  // pages of the first `upto` bytes, not the whole file's: the page the
  // writer is still filling would have to be read back from disk.
  // Requests made while one runs are merged into the next.
  void request(uint64_t upto) {
    {
      std::lock_guard lock(mu_);
      requested_ = true;
      upto_ = upto;
    }
    cv_.notify_one();
  }
  // Waits for the thread to finish; the errno of the first failed sync, or 0.
  int stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_) return;  // close() syncs the rest itself
      requested_ = false;
      uint64_t upto = upto_;
      lock.unlock();
      int error = ::fdatasync(fd_) == 0 ? 0 : errno;
      // Only a hint: pages still dirty or mapped stay.
      if (error == 0 && drop_behind_) ::posix_fadvise(fd_, 0, off_t(upto), POSIX_FADV_DONTNEED);
      lock.lock();
      if (error != 0 && error_ == 0) error_ = error;
    }
  }

  const int fd_;
  const bool drop_behind_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false, stopping_ = false;
  uint64_t upto_ = 0;
  int error_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

FileWriter::FileWriter(std::string path, size_t buffer_size, mode_t mode, std::string_view kind)
    : path_(std::move(path)), buf_cap_(buffer_size) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd_ < 0) {
    fail_errno(path_, kind.empty() ? "cannot create" : "cannot create " + std::string(kind));
  }
  buf_.reserve(buf_cap_);
}

FileWriter::~FileWriter() {
  syncer_.reset();  // joined before its descriptor goes
  if (fd_ >= 0) ::close(fd_);
}

void FileWriter::write(std::span<const uint8_t> bytes) {
  if (fd_ < 0) fail(path_, "write after close");
  pos_ += bytes.size();
  if (buf_.size() + bytes.size() > buf_cap_) {
    flush();
    if (bytes.size() >= buf_cap_) {  // too big to be worth copying
      write_all(bytes.data(), bytes.size());
      written_ += bytes.size();
      return;
    }
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

void FileWriter::pad_to(uint64_t alignment) {
  static constexpr uint8_t kZeros[16] = {};
  uint64_t rem = pos_ % alignment;
  if (rem == 0) return;
  uint64_t n = alignment - rem;
  while (n > 0) {
    uint64_t take = n < sizeof(kZeros) ? n : sizeof(kZeros);
    write(std::span<const uint8_t>(kZeros, take));
    n -= take;
  }
}

namespace {
constexpr uint64_t kWritebackStep = uint64_t(1) << 20;
constexpr uint64_t kBackgroundSyncStep = uint64_t(8) << 20;
}  // namespace

void FileWriter::flush() {
  write_all(buf_.data(), buf_.size());
  written_ += buf_.size();
  buf_.clear();
  // Start writing back what is written so far without waiting for it: the
  // fsync in close() then finds little left to do, instead of stalling the
  // end of a run while the whole file goes to disk.
  if (written_ - kicked_ >= kWritebackStep) kick_writeback();
}

void FileWriter::kick_writeback() {
  // Only a hint; errors (a filesystem without it, say) surface, if real,
  // at the fsync in close().
  ::sync_file_range(fd_, off_t(kicked_), off_t(written_ - kicked_), SYNC_FILE_RANGE_WRITE);
  kicked_ = written_;
  if (written_ - synced_ >= kBackgroundSyncStep) {
    if (!syncer_) syncer_ = std::make_unique<Syncer>(fd_, drop_behind_);
    syncer_->request(written_);
    synced_ = written_;
  }
}

void FileWriter::start_writeback() {
  if (fd_ < 0) fail(path_, "write after close");
  flush();
  if (written_ > kicked_) kick_writeback();
}

void FileWriter::finish_writing() {
  start_writeback();
  buf_ = {};
  buf_cap_ = 0;
}

void FileWriter::write_all(const uint8_t* p, size_t left) {
  write_fully(fd_, std::span<const uint8_t>(p, left), path_);
}

void FileWriter::write_at(uint64_t pos, std::span<const uint8_t> bytes) {
  if (fd_ < 0) fail(path_, "write after close");
  // Still in the buffer (a section's length, written once the section is):
  // patched there, with no system call and no flush of a small buffer.
  if (pos >= written_ && pos - written_ + bytes.size() <= buf_.size()) {
    std::copy(bytes.begin(), bytes.end(), buf_.begin() + std::ptrdiff_t(pos - written_));
    return;
  }
  flush();
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, off_t(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(path_, "write failed");
    }
    p += n, pos += uint64_t(n), left -= size_t(n);
  }
}

void FileWriter::close() {
  if (fd_ < 0) return;
  flush();
  if (syncer_) {
    int error = syncer_->stop();
    syncer_.reset();
    if (error != 0) {
      errno = error;
      fail_errno(path_, "fsync failed");
    }
  }
  if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed");
  if (drop_behind_) ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(path_, "close failed");
}

}  // namespace promblock
