#include "tsdb/chunkenc/chunk.h"

namespace promblock::chunkenc {

std::string encoding_name(uint8_t encoding) {
  switch (Encoding(encoding)) {
    case Encoding::kNone:
      return "none";
    case Encoding::kXOR:
      return "XOR";
    case Encoding::kHistogram:
      return "histogram";
    case Encoding::kFloatHistogram:
      return "floathistogram";
    case Encoding::kXOR2:
      return "XOR2";
    case Encoding::kHistogramST:
      return "histogramST";
    case Encoding::kFloatHistogramST:
      return "floathistogramST";
  }
  return "unknown(" + std::to_string(encoding) + ")";
}

}  // namespace promblock::chunkenc
