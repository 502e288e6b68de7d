#include "tsdb/block/leftovers.h"

#include <filesystem>

#include "tsdb/block/block_writer.h"

namespace promblock {

void remove_leftover_tmp_dirs(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    // Creation leftovers are partial blocks; deletion leftovers are blocks
    // a killed run was removing.
    if (name.ends_with(BlockWriter::kTmpSuffix) || name.ends_with(kTmpForDeletionSuffix))
      std::filesystem::remove_all(it->path(), ec);
  }
}

}  // namespace promblock
