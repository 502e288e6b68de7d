#include "index/series_cursor.h"

#include <algorithm>

#include "index/format.h"
#include "tsdb/base/encoding.h"

namespace promblock::index {

namespace {

// Small enough for hundreds of inputs at once, large enough that one read
// covers dozens of entries.
constexpr uint64_t kBufferSize = 4 * 1024;
constexpr uint64_t kMaxVarint = 10;

}  // namespace

void SeriesCursor::fill(uint64_t offset, uint64_t need) {
  const uint64_t end = index_.layout().series_end;
  uint64_t size = std::min(std::max(need, kBufferSize), end - offset);
  buffer_.resize(size_t(size));
  index_.file().read(size_t(offset), buffer_);
  begin_ = offset;
}

void SeriesCursor::series(uint32_t ref, Labels& labels, std::vector<ChunkMeta>& chunks) {
  const uint64_t offset = index_.series_offset(ref);
  const uint64_t end = index_.layout().series_end;
  auto held = [&] { return begin_ + buffer_.size(); };
  if (offset < begin_ || offset >= held() || (held() < end && held() - offset < kMaxVarint))
    fill(offset, kMaxVarint);
  // The whole entry (length, body, CRC) must be in the buffer unless the
  // buffer reaches the section's end, where decoding reports a short one.
  if (held() < end) {
    auto at = std::span<const uint8_t>(buffer_).subspan(size_t(offset - begin_));
    enc::Decbuf d(at);
    uint64_t len = d.uvarint();
    // A length past the section is left for decoding to report.
    if (d.ok() && len <= end - offset) {
      uint64_t whole = uint64_t(d.pos() - at.data()) + len + kCrcLen;
      if (offset + whole > held()) fill(offset, std::min(whole, end - offset));
    }
  }
  index_.decode_series(ref, std::span<const uint8_t>(buffer_).subspan(size_t(offset - begin_)),
                       labels, chunks);
}

}  // namespace promblock::index
