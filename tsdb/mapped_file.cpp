#include "tsdb/mapped_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "tsdb/error.h"

namespace promblock {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec) fail(path, "cannot open: " + ec.message());
  if (!std::filesystem::is_regular_file(st)) fail(path, "not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot stat: " + ec.message());
  if (size == 0) return;
  try {
    file_.open(path);
  } catch (const std::exception& e) {
    fail(path, std::string("cannot map: ") + std::strerror(errno));
  }
  if (!file_.is_open()) fail(path, "cannot map file");
  bytes_ = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(file_.data()), file_.size());
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

}  // namespace promblock
