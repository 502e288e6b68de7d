#pragma once
// POSIX tar (ustar, with pax extended headers where ustar's fields are too
// small): header encoding and parsing with checksum and bounds checks, a
// streaming writer and a streaming reader. Entry data is never held in
// memory; only the 512-byte header blocks and pax/GNU long-name records
// (bounded) are.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/archive/byte_stream.h"

namespace promblock::archive {

constexpr size_t kTarBlockSize = 512;
// tar(1) pads archives to whole records of 20 blocks; we do the same.
constexpr size_t kTarRecordSize = 20 * kTarBlockSize;

// The typeflag values (POSIX ustar, pax, GNU).
namespace tar_type {
constexpr char kFile = '0';
constexpr char kOldFile = '\0';  // pre-POSIX regular file
constexpr char kHardLink = '1';
constexpr char kSymlink = '2';
constexpr char kCharDevice = '3';
constexpr char kBlockDevice = '4';
constexpr char kDirectory = '5';
constexpr char kFifo = '6';
constexpr char kContiguous = '7';
constexpr char kPaxHeader = 'x';    // pax records for the next entry
constexpr char kPaxGlobal = 'g';    // pax records for all later entries
constexpr char kGnuLongName = 'L';  // the next entry's name
constexpr char kGnuLongLink = 'K';  // the next entry's link target
}  // namespace tar_type

struct TarHeader {
  std::string name;      // the whole path (ustar prefix and name joined)
  std::string linkname;  // link target for hard and symbolic links
  char type = tar_type::kFile;
  uint32_t mode = 0644;
  uint64_t uid = 0;
  uint64_t gid = 0;
  uint64_t size = 0;  // bytes of data that follow the header
  int64_t mtime = 0;  // Unix seconds

  bool operator==(const TarHeader&) const = default;
};

// Bytes of zero padding after `size` bytes of entry data.
inline uint64_t tar_padding(uint64_t size) {
  return (kTarBlockSize - size % kTarBlockSize) % kTarBlockSize;
}

// Whether entries of this type are followed by `size` bytes of data (as
// GNU tar and Python's tarfile read them: links, devices, FIFOs and
// directories never are, whatever their size field says).
bool tar_type_has_data(char type);

// Encodes a header: one ustar block, preceded by a pax extended header
// ("././@PaxHeader" entry, padded) when the name or link target does not
// fit ustar's fields or the size needs more than 11 octal digits. The
// result is a whole number of 512-byte blocks.
std::vector<uint8_t> encode_tar_header(const TarHeader& h);

// Parses one header block; nullopt for an all-zero block (the
// end-of-archive marker). Throws Error (without a path prefix) on a
// checksum mismatch, a malformed numeric field or a missing ustar magic.
// Both POSIX ("ustar\0" "00") and GNU ("ustar  \0") magics are accepted;
// the ustar prefix field is used only with the POSIX one.
std::optional<TarHeader> parse_tar_header(std::span<const uint8_t, kTarBlockSize> block);

// Applies the records of a pax extended header ("<len> <key>=<value>\n"
// each) to `h`: path, linkpath and size; other keys are ignored. Throws
// Error on a malformed record.
void apply_pax_records(std::string_view records, TarHeader& h);

// Writes entries to a sink: begin_entry(), then exactly h.size bytes of
// data for a file, then end_entry(); finish() writes the end marker.
class TarWriter {
 public:
  explicit TarWriter(ByteSink& out) : out_(out) {}

  void begin_entry(const TarHeader& h);
  void write_data(std::span<const uint8_t> bytes);
  // Pads the data to a block boundary; throws when fewer bytes were written
  // than the header announced.
  void end_entry();
  // Two zero blocks, padded to a whole record.
  void finish();

  uint64_t bytes_written() const { return written_; }

 private:
  void put(std::span<const uint8_t> bytes);

  ByteSink& out_;
  uint64_t written_ = 0;
  uint64_t data_left_ = 0;
  uint64_t data_size_ = 0;
  bool in_entry_ = false;
};

// Reads entries from a source. Errors name the stream and the byte offset.
class TarReader : public ByteSource {
 public:
  // Pax extended headers and GNU long names bigger than this are refused.
  static constexpr uint64_t kMaxMetaEntrySize = 1 << 20;

  TarReader(ByteSource& in, std::string name) : in_(in), name_(std::move(name)) {}

  // The next entry, with pax ('x') records and GNU long names ('L', 'K')
  // applied and pax global headers ('g') skipped; nullopt at the
  // end-of-archive marker. Skips what is left of the previous entry.
  // Throws Error when the stream is damaged: it ends early (also before
  // the end marker), a checksum or field is bad, a meta entry is too big.
  std::optional<TarHeader> next();
  // Reads up to buf.size() bytes of the current entry's data; 0 when all
  // of it has been read. Throws Error when the stream ends early.
  size_t read(std::span<uint8_t> buf) override;
  // Skips the rest of the current entry's data and its padding.
  void finish_entry();

  // Bytes of the tar stream consumed so far.
  uint64_t position() const { return pos_; }

 private:
  void read_exact(std::span<uint8_t> buf, const char* what);
  void skip(uint64_t n, const char* what);
  std::string read_meta_data(const TarHeader& h);
  [[noreturn]] void fail_at(uint64_t pos, const std::string& what) const;

  ByteSource& in_;
  std::string name_;
  uint64_t pos_ = 0;
  uint64_t data_left_ = 0;
  uint64_t padding_left_ = 0;
};

}  // namespace promblock::archive
