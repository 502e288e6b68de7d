#include "tsdb/base/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

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

FileWriter::FileWriter(std::string path, size_t buffer_size, mode_t mode, std::string_view kind)
    : path_(std::move(path)), buf_cap_(buffer_size) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd_ < 0) {
    fail_errno(path_, kind.empty() ? "cannot create" : "cannot create " + std::string(kind));
  }
  buf_.reserve(buf_cap_);
}

FileWriter::~FileWriter() {
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
}

void FileWriter::start_writeback() {
  if (fd_ < 0) fail(path_, "write after close");
  flush();
  if (written_ > kicked_) kick_writeback();
}

void FileWriter::write_all(const uint8_t* p, size_t left) {
  write_fully(fd_, std::span<const uint8_t>(p, left), path_);
}

void FileWriter::write_at(uint64_t pos, std::span<const uint8_t> bytes) {
  if (fd_ < 0) fail(path_, "write after close");
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
  if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(path_, "close failed");
}

}  // namespace promblock
