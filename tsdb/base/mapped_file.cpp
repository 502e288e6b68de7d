#include "tsdb/base/mapped_file.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"

namespace promblock {

namespace {

// The mappings the SIGBUS handler can name. Plain fixed storage: the handler
// may only read memory and call async-signal-safe functions.
struct MappingSlot {
  std::atomic<uintptr_t> begin{0};  // 0: free
  std::atomic<uintptr_t> end{0};
  // Initialised, so that the table is constant-initialised: zero pages of
  // .bss, not 512 KiB written (and made resident) at every start.
  char path[240] = {};
};
constexpr int kSlots = 2048;
MappingSlot g_slots[kSlots];

void write_stderr(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w, n -= size_t(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& slot : g_slots) {
    uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin != 0 && addr >= begin && addr < slot.end.load(std::memory_order_relaxed)) {
      write_stderr("promblock: ");
      write_stderr(slot.path);
      write_stderr(": cannot read: the file shrank or the disk failed while it was in use\n");
      ::_exit(1);
    }
  }
  // Not one of ours: a bug, which should crash as it would have.
  ::signal(sig, SIG_DFL);
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa = {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
  });
}

int register_mapping(const std::string& path, std::span<const uint8_t> bytes) {
  install_handler();
  auto begin = reinterpret_cast<uintptr_t>(bytes.data());
  for (int i = 0; i < kSlots; ++i) {
    uintptr_t expected = 0;
    // Claim with a marker first; the handler ignores a slot until its
    // path and end are in place.
    if (!g_slots[i].begin.compare_exchange_strong(expected, 1, std::memory_order_acquire)) continue;
    std::snprintf(g_slots[i].path, sizeof g_slots[i].path, "%s", path.c_str());
    g_slots[i].end.store(begin + bytes.size(), std::memory_order_relaxed);
    g_slots[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return -1;  // all taken: a SIGBUS there is reported as a crash
}

}  // namespace

void MappedFile::unmap() noexcept {
  if (slot_ >= 0) g_slots[slot_].begin.store(0, std::memory_order_release);
  slot_ = -1;
  if (!bytes_.empty()) ::munmap(const_cast<uint8_t*>(bytes_.data()), bytes_.size());
  bytes_ = {};
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      bytes_(std::exchange(other.bytes_, {})),
      slot_(std::exchange(other.slot_, -1)),
      fd_(std::exchange(other.fd_, -1)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    bytes_ = std::exchange(other.bytes_, {});
    slot_ = std::exchange(other.slot_, -1);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  uint64_t size = 0;
  int fd = fsutil::open_regular_file(path, size);
  if (size == 0) {
    ::close(fd);
    return;
  }
  void* data = ::mmap(nullptr, size_t(size), PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    errno = e;
    fail_errno(path, "cannot map");
  }
  bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(data), size_t(size));
  fd_ = fd;
  slot_ = register_mapping(path, bytes_);
}

void MappedFile::release(size_t begin, size_t end) const {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  end = std::min(end, bytes_.size());
  auto base = reinterpret_cast<uintptr_t>(bytes_.data());
  uintptr_t from = (base + begin + page - 1) / page * page, to = (base + end) / page * page;
  if (to <= from) return;
  // Advice only: a failure costs memory, never correctness.
  madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

void MappedFile::read(size_t offset, std::span<uint8_t> out) const {
  if (offset > bytes_.size() || out.size() > bytes_.size() - offset)
    fail(path_, "read of " + std::to_string(out.size()) + " bytes at offset " +
                    std::to_string(offset) + " is past the end (" + std::to_string(bytes_.size()) +
                    " bytes)");
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path_, std::string("read failed: ") + std::strerror(errno));
    if (n == 0)
      fail(path_, "file shrank to " + std::to_string(offset + done) +
                      " bytes while being read (it had " + std::to_string(bytes_.size()) + ")");
    done += size_t(n);
  }
}

void MappedFile::release_behind(size_t& released, size_t upto, size_t step) const {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  upto = std::min(upto, bytes_.size());
  if (upto <= released || upto - released < step) return;
  // The mapping starts on a page, so file offsets align as addresses do.
  // Rounding the start down takes the page that the last call had to
  // leave: a frontier rounded up would leave one page per call behind.
  size_t from = released / page * page, to = upto / page * page;
  release(from, to);
  released = std::max(released, to);
}

}  // namespace promblock
