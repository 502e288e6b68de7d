// The restore reader: the input is a backup stream. Input that starts with
// the zstd magic is fed as it is (zstd reader, then tar reader); anything
// else is taken as a tar and compressed here first, so that mutations reach
// the tar reader and the block checks. Blocks are restored into a fresh
// directory, removed after each input.
#include <zstd.h>

#include <cstring>

#include "tests/fuzz/fuzz_util.h"
#include "tsdb/archive/restore.h"
#include "tsdb/base/error.h"

using namespace promblock;

namespace {

class MemorySource : public archive::ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t read(std::span<uint8_t> buf) override {
    size_t n = std::min(buf.size(), bytes_.size() - pos_);
    if (n) std::memcpy(buf.data(), bytes_.data() + pos_, n);  // data() may be null when empty
    pos_ += n;
    return n;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint8_t kZstdMagic[] = {0x28, 0xb5, 0x2f, 0xfd};
  std::vector<uint8_t> compressed;
  std::span<const uint8_t> stream(data, size);
  if (size < 4 || std::memcmp(data, kZstdMagic, 4) != 0) {
    compressed.resize(ZSTD_compressBound(size));
    size_t n = ZSTD_compress(compressed.data(), compressed.size(), data, size, 1);
    if (ZSTD_isError(n)) std::abort();
    compressed.resize(n);
    stream = compressed;
  }
  auto dir = fuzz::scratch_dir() / "restore";
  std::filesystem::create_directories(dir);
  try {
    MemorySource in(stream);
    (void)archive::restore_backup(in, "fuzz.tar.zst", dir.string(), [](const std::string&) {});
  } catch (const Error&) {
  }
  std::filesystem::remove_all(dir);
  return 0;
}
