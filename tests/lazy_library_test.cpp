// Tests of loading shared libraries on first use (tsdb/base/lazy_library.h):
// what a missing library or function reports, and that a bound function
// is the library's own.
#include "tsdb/base/lazy_library.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>

namespace promblock {
namespace {

TEST(LazyLibraryTest, AMissingLibraryNamesItselfAndItsPackage) {
  std::string error;
  EXPECT_EQ(open_library("libpromblock-none.so.7", "promblock-none", error), nullptr);
  EXPECT_NE(error.find("cannot load libpromblock-none.so.7 (Debian package promblock-none): "),
            std::string::npos)
      << error;
}

TEST(LazyLibraryTest, BoundFunctionsAreTheLibrarysAndTheFirstMissingOneIsReported) {
  // libzstd is linked already: dlopen hands back the same library.
  std::string error;
  void* lib = open_library("libzstd.so.1", "libzstd1", error);
  ASSERT_NE(lib, nullptr) << error;
  EXPECT_EQ(error, "");
  decltype(&ZSTD_versionNumber) version = nullptr;
  bind_function(lib, "libzstd.so.1", "ZSTD_versionNumber", version, error);
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version(), ZSTD_versionNumber());
  EXPECT_EQ(error, "");
  decltype(&ZSTD_versionNumber) missing = version, later = version;
  bind_function(lib, "libzstd.so.1", "ZSTD_promblock_none", missing, error);
  bind_function(lib, "libzstd.so.1", "ZSTD_promblock_later", later, error);
  EXPECT_EQ(missing, nullptr);
  EXPECT_EQ(later, nullptr);
  EXPECT_EQ(error, "libzstd.so.1 has no ZSTD_promblock_none");
}

}  // namespace
}  // namespace promblock
