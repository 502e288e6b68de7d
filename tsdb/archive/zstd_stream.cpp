#include "tsdb/archive/zstd_stream.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "tsdb/base/error.h"

namespace promblock::archive {

namespace {

void check_zstd(size_t r, const char* what) {
  if (ZSTD_isError(r)) throw Error(std::string("zstd: ") + what + ": " + ZSTD_getErrorName(r));
}

}  // namespace

ZstdWriter::ZstdWriter(ByteSink& out, int level) : out_(out) {
  if (level < kMinLevel || level > kMaxLevel)
    throw Error("zstd level " + std::to_string(level) + " out of range " +
                std::to_string(kMinLevel) + ".." + std::to_string(kMaxLevel));
  ctx_ = ZSTD_createCCtx();
  if (ctx_ == nullptr) throw Error("zstd: cannot create compression context");
  check_zstd(ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level), "set level");
  check_zstd(ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1), "enable checksums");
  buf_.resize(ZSTD_CStreamOutSize());
}

ZstdWriter::~ZstdWriter() { ZSTD_freeCCtx(ctx_); }

void ZstdWriter::drive(std::span<const uint8_t> in, int mode) {
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  for (;;) {
    ZSTD_outBuffer ob{buf_.data(), buf_.size(), 0};
    size_t left = ZSTD_compressStream2(ctx_, &ob, &ib, ZSTD_EndDirective(mode));
    check_zstd(left, "compression failed");
    if (ob.pos > 0) {
      out_.write(std::span<const uint8_t>(buf_.data(), ob.pos));
      bytes_out_ += ob.pos;
    }
    if (mode == ZSTD_e_continue ? ib.pos == ib.size : left == 0) break;
  }
}

void ZstdWriter::write(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  frame_open_ = true;
  bytes_in_ += bytes.size();
  drive(bytes, ZSTD_e_continue);
}

void ZstdWriter::end_frame() {
  if (!frame_open_) return;
  drive({}, ZSTD_e_end);
  frame_open_ = false;
}

ZstdReader::ZstdReader(ByteSource& in, std::string name) : in_(in), name_(std::move(name)) {
  ctx_ = ZSTD_createDCtx();
  if (ctx_ == nullptr) throw Error("zstd: cannot create decompression context");
  in_buf_.resize(ZSTD_DStreamInSize());
  out_buf_.resize(ZSTD_DStreamOutSize());
}

ZstdReader::~ZstdReader() { ZSTD_freeDCtx(ctx_); }

// Runs the decoder once, reading input first when it needs some. False
// when it needs input and the input has ended.
bool ZstdReader::step() {
  if (in_pos_ == in_size_ && !output_pending_) {
    if (eof_) return false;
    in_pos_ = 0;
    in_size_ = in_.read(in_buf_);
    if (in_size_ == 0) {
      eof_ = true;
      return false;
    }
  }
  ZSTD_inBuffer ib{in_buf_.data(), in_size_, in_pos_};
  ZSTD_outBuffer ob{out_buf_.data(), out_buf_.size(), 0};
  size_t r = ZSTD_decompressStream(ctx_, &ob, &ib);
  if (ZSTD_isError(r))
    throw Error(name_ + ": corrupt or not a zstd stream (" + ZSTD_getErrorName(r) +
                ") near compressed byte " + std::to_string(consumed_));
  consumed_ += ib.pos - in_pos_;
  in_pos_ = ib.pos;
  out_pos_ = 0;
  out_size_ = ob.pos;
  frame_done_ = r == 0;
  output_pending_ = !frame_done_ && ob.pos == ob.size;
  return true;
}

size_t ZstdReader::read(std::span<uint8_t> buf) {
  if (buf.empty()) return 0;
  while (out_pos_ == out_size_) {
    if (!step()) {
      if (!frame_done_)
        throw Error(name_ + ": zstd stream truncated (ends inside a frame after " +
                    std::to_string(consumed_) + " compressed bytes)");
      return 0;
    }
  }
  size_t n = std::min(buf.size(), out_size_ - out_pos_);
  std::memcpy(buf.data(), out_buf_.data() + out_pos_, n);
  out_pos_ += n;
  return n;
}

bool ZstdReader::at_frame_end() {
  while (out_pos_ == out_size_) {
    if (frame_done_) return true;
    if (!step()) return false;
  }
  return false;
}

}  // namespace promblock::archive
