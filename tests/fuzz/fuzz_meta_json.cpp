// meta.json parsing; what parses is serialized again and must parse again.
#include <string>

#include "tsdb/base/error.h"
#include "tsdb/block/meta.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  BlockMeta meta;
  try {
    meta = parse_meta(std::string(reinterpret_cast<const char*>(data), size), "meta.json");
  } catch (const Error&) {
    return 0;
  }
  (void)meta.external_labels();
  try {
    (void)parse_meta(meta_to_json(meta), "meta.json (rewritten)");
  } catch (const Error&) {
    __builtin_trap();  // we wrote something we cannot read back
  }
  return 0;
}
