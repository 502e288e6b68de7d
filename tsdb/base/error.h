#pragma once
// One exception type for every failure the library reports. The message is
// already a complete one-line sentence naming the file (and block) involved,
// so commands can print it as it is.
#include <cerrno>
#include <cstring>
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

// The same for a failed system call: "PATH: what: <strerror(errno)>".
[[noreturn]] inline void fail_errno(const std::string& path, const std::string& what) {
  int err = errno;  // before anything below can change it
  fail(path, what + ": " + std::strerror(err));
}

}  // namespace promblock
