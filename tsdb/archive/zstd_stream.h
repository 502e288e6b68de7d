#pragma once
// zstd compression as stream filters over ByteSink / ByteSource, on
// libzstd's streaming API: memory stays at the zstd contexts and one
// buffer each (about 128 KiB), whatever the stream's length.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tsdb/archive/byte_stream.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace promblock::archive {

class ZstdWriter : public ByteSink {
 public:
  static constexpr int kDefaultLevel = 3;
  // Levels 1..19 (the ultra levels' windows would make memory grow).
  static constexpr int kMinLevel = 1;
  static constexpr int kMaxLevel = 19;

  // Frames carry a content checksum. Throws Error for a level out of range.
  ZstdWriter(ByteSink& out, int level = kDefaultLevel);
  ~ZstdWriter() override;
  ZstdWriter(const ZstdWriter&) = delete;
  ZstdWriter& operator=(const ZstdWriter&) = delete;

  void write(std::span<const uint8_t> bytes) override;
  // Ends the current frame (flushing everything written so far to `out`);
  // the next write starts a new frame. Does nothing when the frame is empty.
  // A reader can decode everything before a frame end even when the bytes
  // after it are lost.
  void end_frame();

  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  void drive(std::span<const uint8_t> in, int mode);

  ByteSink& out_;
  ZSTD_CCtx_s* ctx_ = nullptr;
  std::vector<uint8_t> buf_;
  bool frame_open_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

class ZstdReader : public ByteSource {
 public:
  // `name` names the stream in errors ("backup.tar.zst", "stdin").
  ZstdReader(ByteSource& in, std::string name);
  ~ZstdReader() override;
  ZstdReader(const ZstdReader&) = delete;
  ZstdReader& operator=(const ZstdReader&) = delete;

  // Decompressed bytes of every frame in turn. Throws Error when the data
  // is not zstd or is corrupt (including a frame checksum mismatch), and
  // when the input ends inside a frame ("truncated"); returns 0 only when
  // the input ends cleanly after a whole frame.
  size_t read(std::span<uint8_t> buf) override;

  // True when everything read so far is the whole of one or more frames:
  // no decoded byte is waiting and the current frame is finished, its
  // checksum verified. May read (and buffer) more input to find out;
  // false when more data of the frame follows or the input is cut short.
  bool at_frame_end();

  uint64_t compressed_bytes_read() const { return consumed_; }

 private:
  bool step();

  ByteSource& in_;
  std::string name_;
  ZSTD_DCtx_s* ctx_ = nullptr;
  std::vector<uint8_t> in_buf_;
  std::vector<uint8_t> out_buf_;
  size_t in_pos_ = 0, in_size_ = 0;
  size_t out_pos_ = 0, out_size_ = 0;
  bool output_pending_ = false;  // the last step filled out_buf_: more may follow
  bool frame_done_ = true;       // between frames
  bool eof_ = false;
  uint64_t consumed_ = 0;
};

}  // namespace promblock::archive
