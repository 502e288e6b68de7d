#include "tsdb/base/fsutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "tsdb/base/error.h"
#include "tsdb/base/file_writer.h"

namespace promblock::fsutil {

namespace {

// Opens `path` with `flags`, fsyncs and closes it; the messages name the step
// that failed.
void fsync_opened(const std::string& path, int flags, const char* open_failed,
                  const char* fsync_failed) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail_errno(path, open_failed);
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    fail_errno(path, fsync_failed);
  }
  ::close(fd);
}

}  // namespace

void write_file_synced(const std::string& path, std::span<const uint8_t> data, mode_t mode) {
  FileWriter file(path, /*buffer_size=*/0, mode);
  file.write(data);
  file.close();
}

void write_file_synced(const std::string& path, const std::string& text) {
  write_file_synced(
      path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

namespace {

// Reads `fd` to its end and closes it; a failure closes it too and fails
// naming `path`.
std::string read_to_end(int fd, const std::string& path) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      fail_errno(path, "cannot read");
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(path, "cannot open");
  return read_to_end(fd, path);
}

int open_regular_file(const std::string& path, uint64_t& size, bool missing_ok) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT && missing_ok) return -1;
  if (fd < 0) fail_errno(path, "cannot open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    fail_errno(path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size = uint64_t(st.st_size);
  return fd;
}

std::optional<std::string> read_regular_file_if_present(const std::string& path) {
  uint64_t size = 0;
  int fd = open_regular_file(path, size, /*missing_ok=*/true);
  if (fd < 0) return std::nullopt;
  return read_to_end(fd, path);
}

void fsync_path(const std::string& path) {
  fsync_opened(path, O_RDONLY, "cannot open for fsync", "fsync failed");
}

void fsync_dir(const std::string& dir) {
  fsync_opened(dir, O_RDONLY | O_DIRECTORY, "cannot open directory to fsync it",
               "fsync of directory failed");
}

void rename_synced(const std::string& from, const std::string& to) {
  rename_unsynced(from, to);
  fsync_path(parent_of(to));
}

void rename_unsynced(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail_errno(to, "cannot rename " + from + " to it");
}

uint64_t tree_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  // "File exists" can mean another process made the directory and removed
  // it again between our mkdir and our look at it: try again then.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::filesystem::create_directories(path, ec);
    if (ec != std::errc::file_exists) break;
  }
  if (ec) fail(path, "cannot create directory: " + ec.message());
}

std::string parent_of(const std::string& path) {
  std::filesystem::path p(path);
  while (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
  auto parent = p.parent_path();
  return parent.empty() ? "." : parent.string();
}

std::string base_name(const std::string& path) {
  std::filesystem::path p(path);
  while (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace promblock::fsutil
