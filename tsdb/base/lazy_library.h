#pragma once
// A shared library loaded with dlopen when first needed rather than linked:
// each linked library costs every start of promblock its loading and
// relocation, and some (libcurl, libcrypto) are needed only by commands
// that touch a bucket. The caller keeps the handle (never closed) and the
// functions it binds.
#include <dlfcn.h>

#include <string>

namespace promblock {

// dlopen(soname); null with `error` saying why (and which Debian package
// holds it) when it cannot be loaded.
void* open_library(const char* soname, const char* package, std::string& error);

// Sets fn to the library's function `name`; where it has none, fn is null
// and `error` (if still empty) says so.
template <class Fn>
void bind_function(void* lib, const char* soname, const char* name, Fn& fn, std::string& error) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn && error.empty()) error = std::string(soname) + " has no " + name;
}

}  // namespace promblock
