// The tombstones file reader.
#include "tests/fuzz/fuzz_util.h"
#include "tsdb/base/error.h"
#include "tsdb/tombstones/tombstones.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = fuzz::write_file(fuzz::scratch_dir() / "tombstones", data, size);
  try {
    Tombstones t = read_tombstones(path);
    for (const auto& [ref, intervals] : t) (void)is_deleted(intervals, 0);
  } catch (const Error&) {
  }
  return 0;
}
