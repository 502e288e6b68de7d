#include "tsdb/archive/tar.h"

#include <algorithm>
#include <cstring>

#include "tsdb/base/encoding.h"
#include "tsdb/base/error.h"

namespace promblock::archive {

namespace {

// Field offsets and lengths of the ustar header (POSIX.1-1988).
struct Field {
  size_t off, len;
};
constexpr Field kName{0, 100}, kMode{100, 8}, kUid{108, 8}, kGid{116, 8}, kSize{124, 12},
    kMtime{136, 12}, kChksum{148, 8}, kType{156, 1}, kLinkname{157, 100}, kMagic{257, 6},
    kVersion{263, 2}, kPrefix{345, 155};

constexpr uint64_t kMaxOctal11 = 077777777777;  // 11 octal digits: 8 GiB - 1
// Sizes past this cannot be real (and would overflow offsets).
constexpr uint64_t kMaxSize = uint64_t(1) << 62;

using Block = std::array<uint8_t, kTarBlockSize>;

void put_string(Block& b, Field f, std::string_view s) {
  if (s.empty()) return;
  std::memcpy(b.data() + f.off, s.data(), std::min(s.size(), f.len));
}

// Octal, zero-padded to len - 1 digits, NUL-terminated.
void put_octal(Block& b, Field f, uint64_t v) {
  size_t digits = f.len - 1;
  for (size_t i = digits; i-- > 0; v >>= 3) b[f.off + i] = uint8_t('0' + (v & 7));
  b[f.off + digits] = 0;
}

std::string_view c_string(std::span<const uint8_t> bytes, Field f) {
  auto* p = reinterpret_cast<const char*>(bytes.data() + f.off);
  return std::string_view(p, strnlen(p, f.len));
}

// An octal field (leading spaces, digits, then NUL or space), or a GNU
// base-256 number (high bit of the first byte set; negative ones refused).
uint64_t parse_number(std::span<const uint8_t> bytes, Field f, const char* what) {
  const uint8_t* p = bytes.data() + f.off;
  if (p[0] & 0x80) {
    if (p[0] & 0x40) throw Error(std::string("tar header: negative ") + what);
    uint64_t v = p[0] & 0x3f;
    for (size_t i = 1; i < f.len; ++i) {
      if (v >> 55) throw Error(std::string("tar header: ") + what + " too large");
      v = v << 8 | p[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < f.len && p[i] == ' ') ++i;
  uint64_t v = 0;
  for (; i < f.len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) throw Error(std::string("tar header: ") + what + " too large");
    v = v << 3 | uint64_t(p[i] - '0');
  }
  for (; i < f.len; ++i)
    if (p[i] != 0 && p[i] != ' ')
      throw Error(std::string("tar header: malformed ") + what + " field");
  return v;
}

std::string pax_record(std::string_view key, std::string_view value) {
  // "<len> key=value\n" where len counts itself: find the fixed point.
  size_t body = 1 + key.size() + 1 + value.size() + 1;
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

// Splits a long name into ustar prefix and name at a '/'; false when no
// split fits.
bool split_ustar_name(std::string_view path, std::string_view& prefix, std::string_view& name) {
  if (path.size() <= kName.len) {
    prefix = {}, name = path;
    return true;
  }
  for (size_t i = path.size(); i-- > 0;) {
    if (path[i] != '/') continue;
    if (i > kPrefix.len) continue;
    if (path.size() - i - 1 > kName.len) return false;
    if (i == 0 || i + 1 == path.size()) return false;
    prefix = path.substr(0, i), name = path.substr(i + 1);
    return true;
  }
  return false;
}

Block encode_ustar(const TarHeader& h, std::string_view prefix, std::string_view name,
                   std::string_view linkname, uint64_t size_field) {
  Block b{};
  put_string(b, kName, name);
  put_octal(b, kMode, h.mode & 07777);
  put_octal(b, kUid, std::min<uint64_t>(h.uid, 07777777));
  put_octal(b, kGid, std::min<uint64_t>(h.gid, 07777777));
  put_octal(b, kSize, size_field);
  put_octal(b, kMtime, uint64_t(std::clamp<int64_t>(h.mtime, 0, int64_t(kMaxOctal11))));
  b[kType.off] = uint8_t(h.type);
  put_string(b, kLinkname, linkname);
  put_string(b, kMagic, std::string_view("ustar\0", 6));
  put_string(b, kVersion, "00");
  put_string(b, kPrefix, prefix);
  // The checksum is computed with its own field as spaces, then stored as
  // six octal digits, NUL, space.
  std::memset(b.data() + kChksum.off, ' ', kChksum.len);
  uint32_t sum = 0;
  for (uint8_t c : b) sum += c;
  for (size_t i = 6, v = sum; i-- > 0; v >>= 3) b[kChksum.off + i] = uint8_t('0' + (v & 7));
  b[kChksum.off + 6] = 0;
  b[kChksum.off + 7] = ' ';
  return b;
}

}  // namespace

bool tar_type_has_data(char type) {
  switch (type) {
    case tar_type::kHardLink:
    case tar_type::kSymlink:
    case tar_type::kCharDevice:
    case tar_type::kBlockDevice:
    case tar_type::kDirectory:
    case tar_type::kFifo:
      return false;
    default:
      return true;
  }
}

std::vector<uint8_t> encode_tar_header(const TarHeader& h) {
  std::string_view prefix, name;
  std::string records;
  if (!split_ustar_name(h.name, prefix, name)) {
    records += pax_record("path", h.name);
    prefix = {}, name = std::string_view(h.name).substr(0, kName.len);
  }
  std::string_view linkname = h.linkname;
  if (linkname.size() > kLinkname.len) {
    records += pax_record("linkpath", h.linkname);
    linkname = linkname.substr(0, kLinkname.len);
  }
  uint64_t size_field = h.size;
  if (h.size > kMaxOctal11) {
    records += pax_record("size", std::to_string(h.size));
    size_field = 0;
  }
  std::vector<uint8_t> out;
  if (!records.empty()) {
    TarHeader x;
    x.name = "././@PaxHeader";
    x.type = tar_type::kPaxHeader;
    x.mtime = h.mtime;
    x.size = records.size();
    Block xb = encode_ustar(x, {}, x.name, {}, x.size);
    // Sized once and copied into (zeros are the padding): growing by
    // insert trips GCC 12's -Wstringop-overflow false positive.
    out.resize(xb.size() + records.size() + tar_padding(records.size()), 0);
    std::copy(xb.begin(), xb.end(), out.begin());
    std::copy(records.begin(), records.end(), out.begin() + std::ptrdiff_t(xb.size()));
  }
  Block b = encode_ustar(h, prefix, name, linkname, size_field);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::optional<TarHeader> parse_tar_header(std::span<const uint8_t, kTarBlockSize> block) {
  if (std::all_of(block.begin(), block.end(), [](uint8_t c) { return c == 0; }))
    return std::nullopt;
  uint64_t want = parse_number(block, kChksum, "checksum");
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kTarBlockSize; ++i) {
    bool in_chksum = i >= kChksum.off && i < kChksum.off + kChksum.len;
    uint8_t c = in_chksum ? uint8_t(' ') : block[i];
    unsigned_sum += c;
    signed_sum += int8_t(c);  // some old tars summed signed chars
  }
  if (enc::kCheckChecksums && want != unsigned_sum && int64_t(want) != signed_sum)
    throw Error("tar header: checksum mismatch (stored " + std::to_string(want) + ", computed " +
                std::to_string(unsigned_sum) + ")");
  std::string_view magic(reinterpret_cast<const char*>(block.data() + kMagic.off), 8);
  bool posix = magic == std::string_view(
                            "ustar\0"
                            "00",
                            8);
  bool gnu = magic == std::string_view("ustar  \0", 8);
  if (!posix && !gnu) throw Error("tar header: no ustar magic (not a POSIX or GNU tar archive)");

  TarHeader h;
  h.name = std::string(c_string(block, kName));
  if (posix) {
    std::string_view prefix = c_string(block, kPrefix);
    if (!prefix.empty()) h.name = std::string(prefix) + "/" + h.name;
  }
  h.linkname = std::string(c_string(block, kLinkname));
  h.type = char(block[kType.off]);
  h.mode = uint32_t(parse_number(block, kMode, "mode") & 07777);
  h.uid = parse_number(block, kUid, "uid");
  h.gid = parse_number(block, kGid, "gid");
  h.size = parse_number(block, kSize, "size");
  h.mtime = int64_t(parse_number(block, kMtime, "mtime") & (kMaxSize - 1));
  if (h.size > kMaxSize) throw Error("tar header: size " + std::to_string(h.size) + " too large");
  return h;
}

void apply_pax_records(std::string_view records, TarHeader& h) {
  while (!records.empty()) {
    size_t sp = records.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20)
      throw Error("pax header: malformed record length");
    uint64_t len = 0;
    for (size_t i = 0; i < sp; ++i) {
      if (records[i] < '0' || records[i] > '9') throw Error("pax header: malformed record length");
      len = len * 10 + uint64_t(records[i] - '0');
    }
    if (len <= sp + 1 || len > records.size() || records[len - 1] != '\n')
      throw Error("pax header: record length " + std::to_string(len) + " does not fit");
    std::string_view rec = records.substr(sp + 1, len - sp - 2);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos || eq == 0) throw Error("pax header: record without key");
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") {
      h.name = std::string(value);
    } else if (key == "linkpath") {
      h.linkname = std::string(value);
    } else if (key == "size") {
      if (value.empty() || value.size() > 19) throw Error("pax header: malformed size");
      uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9') throw Error("pax header: malformed size");
        v = v * 10 + uint64_t(c - '0');
      }
      if (v > kMaxSize) throw Error("pax header: size too large");
      h.size = v;
    }
    records.remove_prefix(len);
  }
}

void TarWriter::put(std::span<const uint8_t> bytes) {
  out_.write(bytes);
  written_ += bytes.size();
}

void TarWriter::begin_entry(const TarHeader& h) {
  if (in_entry_) throw Error("tar writer: entry " + h.name + " begun before the last one ended");
  put(encode_tar_header(h));
  in_entry_ = true;
  data_size_ = tar_type_has_data(h.type) ? h.size : 0;
  data_left_ = data_size_;
}

void TarWriter::write_data(std::span<const uint8_t> bytes) {
  if (!in_entry_ || bytes.size() > data_left_)
    throw Error("tar writer: more data than the header announced");
  put(bytes);
  data_left_ -= bytes.size();
}

void TarWriter::end_entry() {
  if (!in_entry_) throw Error("tar writer: no entry to end");
  if (data_left_ != 0)
    throw Error("tar writer: " + std::to_string(data_left_) + " bytes of data missing");
  static constexpr uint8_t kZeros[kTarBlockSize] = {};
  put(std::span<const uint8_t>(kZeros, tar_padding(data_size_)));
  in_entry_ = false;
}

void TarWriter::finish() {
  if (in_entry_) throw Error("tar writer: archive finished inside an entry");
  static constexpr uint8_t kZeros[kTarBlockSize] = {};
  uint64_t n = 2 * kTarBlockSize;
  n += (kTarRecordSize - (written_ + n) % kTarRecordSize) % kTarRecordSize;
  for (; n > 0; n -= kTarBlockSize) put(kZeros);
}

void TarReader::fail_at(uint64_t pos, const std::string& what) const {
  throw Error(name_ + ": tar stream byte " + std::to_string(pos) + ": " + what);
}

void TarReader::read_exact(std::span<uint8_t> buf, const char* what) {
  size_t got = read_full(in_, buf);
  pos_ += got;
  if (got != buf.size()) fail_at(pos_, std::string("stream ends inside ") + what + " (truncated)");
}

void TarReader::skip(uint64_t n, const char* what) {
  uint8_t scratch[8192];
  while (n > 0) {
    size_t take = size_t(std::min<uint64_t>(n, sizeof(scratch)));
    read_exact(std::span<uint8_t>(scratch, take), what);
    n -= take;
  }
}

void TarReader::finish_entry() {
  skip(data_left_, "entry data");
  data_left_ = 0;
  skip(padding_left_, "entry padding");
  padding_left_ = 0;
}

size_t TarReader::read(std::span<uint8_t> buf) {
  size_t n = size_t(std::min<uint64_t>(buf.size(), data_left_));
  if (n == 0) return 0;
  read_exact(buf.first(n), "entry data");
  data_left_ -= n;
  return n;
}

std::string TarReader::read_meta_data(const TarHeader& h) {
  if (h.size > kMaxMetaEntrySize)
    fail_at(pos_, "extended header of " + std::to_string(h.size) + " bytes is too large");
  std::string data(size_t(h.size), '\0');
  read_exact(std::span<uint8_t>(reinterpret_cast<uint8_t*>(data.data()), data.size()),
             "extended header");
  skip(tar_padding(h.size), "entry padding");
  return data;
}

std::optional<TarHeader> TarReader::next() {
  finish_entry();
  std::optional<std::string> long_name, long_link;
  std::string pax;
  for (;;) {
    uint64_t at = pos_;
    Block block;
    size_t got = read_full(in_, block);
    pos_ += got;
    if (got == 0) fail_at(at, "stream ends without the end-of-archive marker (truncated)");
    if (got != block.size()) fail_at(at, "stream ends inside a header (truncated)");
    std::optional<TarHeader> h;
    try {
      h = parse_tar_header(block);
    } catch (const Error& e) {
      fail_at(at, e.what());
    }
    if (!h) {
      if (long_name || long_link || !pax.empty())
        fail_at(at, "end-of-archive marker after an extended header");
      return std::nullopt;
    }
    switch (h->type) {
      case tar_type::kPaxHeader:
        pax += read_meta_data(*h);
        continue;
      case tar_type::kPaxGlobal:
        skip(h->size + tar_padding(h->size), "global extended header");
        continue;
      case tar_type::kGnuLongName:
      case tar_type::kGnuLongLink: {
        std::string s = read_meta_data(*h);
        s.resize(strnlen(s.data(), s.size()));  // NUL-terminated
        (h->type == tar_type::kGnuLongName ? long_name : long_link) = std::move(s);
        continue;
      }
      default:
        break;
    }
    if (long_name) h->name = *long_name;
    if (long_link) h->linkname = *long_link;
    try {
      apply_pax_records(pax, *h);
    } catch (const Error& e) {
      fail_at(at, e.what());
    }
    data_left_ = tar_type_has_data(h->type) ? h->size : 0;
    padding_left_ = tar_padding(data_left_);
    return h;
  }
}

}  // namespace promblock::archive
