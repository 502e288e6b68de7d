#include "tsdb/base/lazy_library.h"

#include <dlfcn.h>

namespace promblock {

LazyLibrary::LazyLibrary(const char* soname, const char* package) : soname_(soname) {
  handle_ = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = dlerror();
    error_ = std::string("cannot load ") + soname + " (Debian package " + package +
             "): " + (why ? why : "dlopen failed");
  }
}

void* LazyLibrary::find(const char* name) {
  if (!handle_) return nullptr;
  void* fn = dlsym(handle_, name);
  if (!fn && error_.empty()) error_ = std::string(soname_) + " has no " + name;
  return fn;
}

}  // namespace promblock
