#pragma once
// CRoaring's C++ API as roaring::Roaring. Debian 12's libroaring-dev 0.2.66
// declares its C++ classes in the global namespace (later releases moved
// them into namespace roaring), so alias them there. Include this instead of
// <roaring/roaring.hh>.
#include <roaring/roaring.hh>

namespace roaring {
using ::Roaring;
using ::RoaringSetBitForwardIterator;
}  // namespace roaring
