#include "tsdb/archive/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "tsdb/archive/entry_name.h"
#include "tsdb/archive/tar.h"
#include "tsdb/archive/zstd_stream.h"
#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/base/ulid.h"
#include "tsdb/model/timeparse.h"

namespace fs = std::filesystem;

namespace promblock::archive {

namespace {

constexpr size_t kCopyBufferSize = size_t(1) << 20;

// An open file of a block; opened before anything of the block is written
// so that a block deleted meanwhile (retention, compaction) is either
// written whole or left out.
struct OpenFile {
  std::string rel;  // path inside the block
  std::string path;
  int fd = -1;
  struct stat st {};

  OpenFile() = default;
  OpenFile(OpenFile&& o) noexcept
      : rel(std::move(o.rel)), path(std::move(o.path)), fd(o.fd), st(o.st) {
    o.fd = -1;
  }
  OpenFile& operator=(OpenFile&&) = delete;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

enum class OpenStatus { kOk, kMissing };

OpenStatus open_file(const std::string& dir, const std::string& rel, std::vector<OpenFile>& out) {
  OpenFile f;
  f.rel = rel;
  f.path = dir + "/" + rel;
  f.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    if (errno == ENOENT) return OpenStatus::kMissing;
    fail_errno(f.path, "cannot open");
  }
  if (::fstat(f.fd, &f.st) != 0) fail_errno(f.path, "cannot stat");
  if (!S_ISREG(f.st.st_mode)) fail(f.path, "not a regular file");
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  out.push_back(std::move(f));
  return OpenStatus::kOk;
}

// Sorted segment file names of a block's chunks/ directory; other entries
// are reported and left out.
std::vector<std::string> segment_names(const std::string& chunks_dir, const Notice& notice) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(chunks_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (is_block_file("chunks/" + name))
      names.push_back(name);
    else
      notice(chunks_dir + "/" + name + ": not a chunk segment; left out of the backup");
  }
  if (ec) fail(chunks_dir, "cannot list directory: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

TarHeader dir_header(const std::string& name, const std::string& path) {
  TarHeader h;
  h.name = name;
  h.type = tar_type::kDirectory;
  h.mode = 0755;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) h.mtime = st.st_mtime;
  return h;
}

// Copies f into the archive; `copied` is called with the bytes of every read.
template <class Copied>
void copy_file(const OpenFile& f, const std::string& ulid, TarWriter& tar,
               std::vector<uint8_t>& buf, const Copied& copied) {
  TarHeader h;
  h.name = ulid + "/" + f.rel;
  h.mode = 0644;
  h.size = uint64_t(f.st.st_size);
  h.mtime = f.st.st_mtime;
  tar.begin_entry(h);
  uint64_t left = h.size;
  while (left > 0) {
    size_t want = size_t(std::min<uint64_t>(left, buf.size()));
    ssize_t n = ::read(f.fd, buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(f.path, "read failed");
    }
    if (n == 0) fail(f.path, "file shrank while being backed up");
    tar.write_data(std::span<const uint8_t>(buf.data(), size_t(n)));
    left -= uint64_t(n);
    copied(uint64_t(n));
  }
  tar.end_entry();
}

// The files of a block, open, in archive order (meta.json last); none after
// saying why the block is left out, `incomplete` where that is a failure
// rather than the block going away meanwhile.
std::vector<OpenFile> open_block(const std::string& dir, const std::string& ulid,
                                 const Notice& notice, bool& incomplete) {
  std::error_code ec;
  if (fs::exists(dir + "/deletion-mark.json", ec)) {
    notice("block " + ulid + " was marked for deletion meanwhile; left out");
    return {};
  }
  std::vector<OpenFile> index;
  if (!fs::is_directory(dir + "/chunks", ec) || open_file(dir, "index", index) != OpenStatus::kOk) {
    if (!fs::exists(dir + "/meta.json", ec)) {
      notice("block " + ulid + " was deleted meanwhile; left out");
    } else {
      notice("block " + ulid + " is incomplete (no index or no chunks/); left out");
      incomplete = true;
    }
    return {};
  }
  std::vector<OpenFile> files;
  bool missing = false;
  for (const auto& seg : segment_names(dir + "/chunks", notice))
    missing |= open_file(dir, "chunks/" + seg, files) != OpenStatus::kOk;
  files.push_back(std::move(index.front()));
  for (const char* optional : {"tombstones", "no-compact-mark.json"})
    open_file(dir, optional, files);
  missing |= open_file(dir, "meta.json", files) != OpenStatus::kOk;  // last
  if (missing) {
    notice("block " + ulid + " was deleted meanwhile; left out");
    return {};
  }
  return files;
}

}  // namespace

void parse_since(std::string_view arg, BackupFilter& filter) {
  if (is_ulid(arg)) {
    filter.after_ulid = std::string(arg);
    return;
  }
  try {
    filter.after_time_ms = parse_time_ms(arg);
  } catch (const UsageError& e) {
    throw UsageError(std::string(arg) + ": neither a ULID nor a time (" + e.what() + ")");
  }
}

bool backup_takes(const BlockMeta& meta, const std::string& name, bool deletion_marked,
                  const BackupFilter& filter) {
  if (deletion_marked || meta.level < filter.min_level) return false;
  const std::string& ulid = is_ulid(name) ? name : meta.ulid;
  if (filter.after_ulid && !(ulid > *filter.after_ulid)) return false;
  return !filter.after_time_ms || meta.max_time > *filter.after_time_ms;
}

std::vector<FoundBlock> select_backup_blocks(const std::string& source,
                                             const BackupFilter& filter) {
  std::vector<FoundBlock> out;
  for (auto& b : discover_blocks(source))
    if (backup_takes(b.meta, fsutil::base_name(b.dir), b.deletion_marked, filter))
      out.push_back(std::move(b));
  std::sort(out.begin(), out.end(),
            [](const FoundBlock& a, const FoundBlock& b) { return a.meta.ulid < b.meta.ulid; });
  return out;
}

BackupResult write_backup(const std::vector<FoundBlock>& blocks, ByteSink& out, int zstd_level,
                          const Notice& notice, const BackupProgress& progress) {
  BackupResult r;
  uint64_t bytes_read = 0;
  auto report = [&](size_t blocks_done) {
    if (progress) progress(blocks_done, bytes_read);
  };
  ZstdWriter zstd(out, zstd_level);
  TarWriter tar(zstd);
  std::vector<uint8_t> buf(kCopyBufferSize);
  for (size_t i = 0; i < blocks.size(); ++i) {
    report(i);
    const FoundBlock& b = blocks[i];
    const std::string& dir = b.dir;
    // The name in the archive is the block's ULID: its directory name when
    // that is one, else meta.json's (a block given by a path of another name).
    std::string ulid = fsutil::base_name(dir);
    if (!is_ulid(ulid)) ulid = b.meta.ulid;
    if (!is_ulid(ulid)) fail(dir + "/meta.json", "block ULID " + ulid + " is not a ULID");

    bool incomplete = false;
    std::vector<OpenFile> files = open_block(dir, ulid, notice, incomplete);
    if (incomplete) ++r.failed;
    if (files.empty()) continue;
    tar.begin_entry(dir_header(ulid + "/", dir));
    tar.end_entry();
    tar.begin_entry(dir_header(ulid + "/chunks/", dir + "/chunks"));
    tar.end_entry();
    for (const auto& f : files) {
      copy_file(f, ulid, tar, buf, [&](uint64_t n) {
        bytes_read += n;
        report(i);
      });
      r.file_bytes += uint64_t(f.st.st_size);
    }
    zstd.end_frame();
    ++r.blocks;
  }
  report(blocks.size());
  tar.finish();
  zstd.end_frame();
  r.archive_bytes = tar.bytes_written();
  r.compressed_bytes = zstd.bytes_out();
  return r;
}

}  // namespace promblock::archive
