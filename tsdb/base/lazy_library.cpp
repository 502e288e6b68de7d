#include "tsdb/base/lazy_library.h"

namespace promblock {

void* open_library(const char* soname, const char* package, std::string& error) {
  void* lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    error = std::string("cannot load ") + soname + " (Debian package " + package +
            "): " + (why ? why : "dlopen failed");
  }
  return lib;
}

}  // namespace promblock
