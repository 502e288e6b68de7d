#include "tsdb/archive/byte_stream.h"

#include <unistd.h>

#include <cerrno>

#include "tsdb/base/error.h"
#include "tsdb/base/file_writer.h"

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
  write_fully(fd_, bytes, name_);
  written_ += bytes.size();
}

}  // namespace promblock::archive
