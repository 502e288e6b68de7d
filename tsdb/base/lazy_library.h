#pragma once
// A shared library loaded with dlopen when first needed rather than linked:
// each linked library costs every start of promblock its loading and
// relocation, and some (libcurl, libcrypto) are needed only by commands
// that touch a bucket. The handle is never closed: what the caller binds
// stays valid until exit.
#include <string>

namespace promblock {

class LazyLibrary {
 public:
  // dlopen(soname); where it cannot be loaded, error() says why and which
  // Debian package holds it.
  LazyLibrary(const char* soname, const char* package);

  // Sets fn to the library's function `name`; where the library has none
  // (or was not loaded), fn is null and error(), if still empty, says so.
  template <class Fn>
  void bind(const char* name, Fn& fn) {
    fn = reinterpret_cast<Fn>(find(name));
  }

  // Empty while the library is loaded and every function bound so far exists.
  const std::string& error() const { return error_; }

 private:
  void* find(const char* name);

  const char* soname_;
  void* handle_ = nullptr;
  std::string error_;  // the first failure
};

}  // namespace promblock
