#pragma once
// One exception type for every failure the library reports. The message is
// already a complete one-line sentence naming the file (and block) involved,
// so commands can print it as it is.
#include <stdexcept>
#include <string>

namespace promblock {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Prefixes an error message with the path it is about: "PATH: what".
[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

}  // namespace promblock
