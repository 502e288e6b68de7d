#pragma once
// A failure caused by what the user typed (a bad flag value, time, duration
// or selector) rather than by the data: commands exit with code 2 for these.
#include "tsdb/base/error.h"

namespace promblock {

class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace promblock
