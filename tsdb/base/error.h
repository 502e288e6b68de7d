#pragma once
// One exception type for every failure the library reports. It keeps the
// parts of a failure apart (the file, the part of the file, what is wrong)
// so that a caller such as verify can use them, while what() is the complete
// one-line sentence "PATH: SECTION: what" that commands print as it is.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace promblock {

class Error : public std::runtime_error {
 public:
  // A message about no particular file: path() and section() are empty.
  explicit Error(const std::string& message) : std::runtime_error(message), detail_(message) {}
  // `section` names the part of the file (an index section, a series entry,
  // a chunk ref) and may be empty.
  Error(std::string path, std::string section, std::string detail)
      : std::runtime_error(compose(path, section, detail)),
        path_(std::move(path)),
        section_(std::move(section)),
        detail_(std::move(detail)) {}

  const std::string& path() const noexcept { return path_; }
  const std::string& section() const noexcept { return section_; }
  // What is wrong, without path and section.
  const std::string& detail() const noexcept { return detail_; }
  // The message without its path: "SECTION: what", or "what".
  std::string located_detail() const {
    return section_.empty() ? detail_ : section_ + ": " + detail_;
  }

 private:
  static std::string compose(const std::string& path, const std::string& section,
                             const std::string& detail) {
    std::string msg = path + ": ";
    if (!section.empty()) msg += section + ": ";
    return msg + detail;
  }

  std::string path_, section_, detail_;
};

// Throws an Error about `path`: "PATH: what".
[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw Error(path, "", what);
}

// The same about a part of the file: "PATH: SECTION: what".
[[noreturn]] inline void fail(const std::string& path, const std::string& section,
                              const std::string& what) {
  throw Error(path, section, what);
}

// The same for a failed system call: "PATH: what: <strerror(errno)>".
[[noreturn]] inline void fail_errno(const std::string& path, const std::string& what) {
  int err = errno;  // before anything below can change it
  fail(path, what + ": " + std::strerror(err));
}

}  // namespace promblock
