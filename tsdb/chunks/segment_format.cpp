#include "tsdb/chunks/segment_format.h"

#include <cinttypes>
#include <cstdio>

namespace promblock::chunks {

std::string segment_file_name(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06" PRIu64, index + 1);
  return buf;
}

}  // namespace promblock::chunks
