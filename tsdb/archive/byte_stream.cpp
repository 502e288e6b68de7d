#include "tsdb/archive/byte_stream.h"

#include <unistd.h>

#include <cerrno>

#include "tsdb/base/error.h"

namespace promblock::archive {

size_t read_full(ByteSource& in, std::span<uint8_t> buf) {
  size_t got = 0;
  while (got < buf.size()) {
    size_t n = in.read(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

size_t FdSource::read(std::span<uint8_t> buf) {
  if (buf.empty()) return 0;
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return size_t(n);
    if (errno != EINTR) fail_errno(name_, "read failed");
  }
}

void FdSink::write(std::span<const uint8_t> bytes) {
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(name_, "write failed");
    }
    p += n;
    left -= size_t(n);
    written_ += uint64_t(n);
  }
}

}  // namespace promblock::archive
