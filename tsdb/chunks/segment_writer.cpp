#include "tsdb/chunks/segment_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "tsdb/encoding.h"
#include "tsdb/error.h"

namespace promblock::chunks {

namespace {

namespace fs = std::filesystem;

// Large enough that a segment costs few write(2) calls.
constexpr size_t kBufferSize = size_t(1) << 20;

[[noreturn]] void fail_errno(const std::string& path, const std::string& what) {
  fail(path, what + ": " + std::strerror(errno));
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno(dir, "cannot open directory to fsync it");
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    fail_errno(dir, "fsync of directory failed");
  }
  ::close(fd);
}

}  // namespace

ChunkWriter::ChunkWriter(const std::string& chunks_dir, uint64_t max_segment_size)
    : dir_(chunks_dir), max_segment_size_(max_segment_size) {
  // Offsets in chunk refs have 32 bits.
  if (max_segment_size_ > (uint64_t(1) << 32)) {
    fail(chunks_dir,
         "chunk segment size cap " + std::to_string(max_segment_size_) + " exceeds 4 GiB");
  }
  std::error_code ec;
  fs::create_directories(chunks_dir, ec);
  if (ec) fail(chunks_dir, "cannot create directory: " + ec.message());
  buf_.reserve(kBufferSize);
}

ChunkWriter::~ChunkWriter() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t ChunkWriter::write(uint8_t encoding, std::span<const uint8_t> data) {
  if (closed_) fail(dir_, "chunk written after the chunk writer was closed");
  // Prometheus's rule: a segment that already holds chunks is cut when the
  // chunk, sized with the longest possible length field, would not fit.
  uint64_t max_chunk_size = kMaxChunkLengthFieldSize + 1 + data.size() + kChunkCrcSize;
  if (fd_ < 0 || (size_ > kSegmentHeaderSize && size_ + max_chunk_size > max_segment_size_)) {
    start_segment();
  }
  if (size_ > 0xffffffffu) {
    fail(path_, "chunk offset " + std::to_string(size_) + " does not fit a chunk ref");
  }
  uint64_t ref = make_chunk_ref(segments_ - 1, size_);

  uint8_t head[11];  // uvarint length (<= 10 bytes) + encoding
  size_t n = 0;
  for (uint64_t len = data.size();; len >>= 7) {
    if (len < 0x80) {
      head[n++] = uint8_t(len);
      break;
    }
    head[n++] = uint8_t(len) | 0x80;
  }
  head[n++] = encoding;
  uint8_t crc[4];
  enc::store_be32(crc, enc::crc32c(data, enc::crc32c(&encoding, 1)));

  auto append = [&](const uint8_t* p, size_t len) {
    if (buf_.size() + len > kBufferSize) flush();
    if (len >= kBufferSize) {
      write_all(p, len);  // too big to be worth copying
    } else {
      buf_.insert(buf_.end(), p, p + len);
    }
    size_ += len;
  };
  append(head, n);
  append(data.data(), data.size());
  append(crc, sizeof crc);
  return ref;
}

void ChunkWriter::start_segment() {
  finish_segment();
  path_ = (fs::path(dir_) / segment_file_name(segments_)).string();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) fail_errno(path_, "cannot create chunk segment");
  ++segments_;
  uint8_t header[kSegmentHeaderSize] = {};
  enc::store_be32(header, kSegmentMagic);
  header[4] = kSegmentVersion;
  buf_.insert(buf_.end(), header, header + sizeof header);
  size_ = kSegmentHeaderSize;
}

void ChunkWriter::finish_segment() {
  if (fd_ < 0) return;
  flush();
  if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(path_, "close failed");
}

void ChunkWriter::flush() {
  if (buf_.empty()) return;
  write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void ChunkWriter::write_all(const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_errno(path_, "write failed");
    }
    p += w;
    n -= size_t(w);
  }
}

void ChunkWriter::close() {
  if (closed_) return;
  finish_segment();
  fsync_dir(dir_);
  closed_ = true;
}

}  // namespace promblock::chunks
