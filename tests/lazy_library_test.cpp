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
  LazyLibrary lib("libpromblock-none.so.7", "promblock-none");
  EXPECT_NE(
      lib.error().find("cannot load libpromblock-none.so.7 (Debian package promblock-none): "),
      std::string::npos)
      << lib.error();
  decltype(&ZSTD_versionNumber) fn = ZSTD_versionNumber;
  lib.bind("ZSTD_versionNumber", fn);
  EXPECT_EQ(fn, nullptr);
  EXPECT_EQ(lib.error().find("cannot load "), 0u) << "the first failure stays the one reported";
}

TEST(LazyLibraryTest, BoundFunctionsAreTheLibrarysAndTheFirstMissingOneIsReported) {
  // libzstd is linked already: dlopen hands back the same library.
  LazyLibrary lib("libzstd.so.1", "libzstd1");
  ASSERT_EQ(lib.error(), "");
  decltype(&ZSTD_versionNumber) version = nullptr;
  lib.bind("ZSTD_versionNumber", version);
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version(), ZSTD_versionNumber());
  EXPECT_EQ(lib.error(), "");
  decltype(&ZSTD_versionNumber) missing = version, later = version;
  lib.bind("ZSTD_promblock_none", missing);
  lib.bind("ZSTD_promblock_later", later);
  EXPECT_EQ(missing, nullptr);
  EXPECT_EQ(later, nullptr);
  EXPECT_EQ(lib.error(), "libzstd.so.1 has no ZSTD_promblock_none");
}

}  // namespace
}  // namespace promblock
