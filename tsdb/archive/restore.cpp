#include "tsdb/archive/restore.h"

#include <filesystem>
#include <optional>
#include <set>

#include "tsdb/archive/entry_name.h"
#include "tsdb/archive/tar.h"
#include "tsdb/archive/zstd_stream.h"
#include "tsdb/base/dir_lock.h"
#include "tsdb/base/error.h"
#include "tsdb/base/file_writer.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/block/block_writer.h"
#include "tsdb/block/leftovers.h"
#include "tsdb/verify/verify.h"

namespace fs = std::filesystem;

namespace promblock::archive {

namespace {

constexpr size_t kCopyBufferSize = size_t(1) << 20;

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '\0' ? std::string("\\0") : std::string(1, c);
  return out + "\"";
}

// The checks of `promblock verify` (without decoding samples): meta.json, index
// sections and CRCs, every chunk's ref and CRC, stats. Throws Error with the
// first problems when there are errors; warnings do not count (the
// temporary directory's name is not the ULID, verify warns about that).
void check_block(const std::string& dir, const std::string& ulid) {
  std::vector<std::string> errors;
  size_t count = 0;
  verify::Report report([&](const verify::Problem& p) {
    if (p.severity != verify::Severity::kError) return;
    if (++count <= 3)
      errors.push_back(p.file + (p.series.empty() ? "" : " " + p.series) + ": " + p.what);
  });
  auto res = verify::verify_block(dir, verify::Options{}, report);
  report.finish();
  if (res.meta && res.meta->ulid != ulid)
    errors.insert(errors.begin(),
                  "meta.json: ULID " + res.meta->ulid + " is not the block's " + ulid);
  if (report.errors() == 0 && errors.empty()) return;
  std::string msg;
  for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
  if (report.errors() > errors.size())
    msg += " (" + std::to_string(report.errors()) + " problems in all)";
  throw Error(msg);
}

// A failure to write into the target directory (disk full, I/O error):
// unlike damage in the stream, it ends the restore as a whole.
class OutputFailure : public Error {
 public:
  using Error::Error;
};

// Runs f, reporting any failure as an OutputFailure.
template <class F>
void writing_output(F&& f) {
  try {
    f();
  } catch (const OutputFailure&) {
    throw;
  } catch (const Error& e) {
    throw OutputFailure(e.what());
  }
}

// One block of the stream, while its entries are read.
struct PendingBlock {
  enum class State { kWriting, kSkipping, kRefused };
  std::string ulid;
  State state = State::kWriting;
  std::string tmp;  // its temporary directory while kWriting
  std::set<std::string> files;
  bool meta_seen = false;
  uint64_t bytes = 0;

  PendingBlock() = default;
  PendingBlock(const PendingBlock&) = delete;
  PendingBlock& operator=(const PendingBlock&) = delete;
  ~PendingBlock() { remove_tmp(); }
  void remove_tmp() {
    if (tmp.empty()) return;
    std::error_code ec;
    fs::remove_all(tmp, ec);
    tmp.clear();
  }
};

class Restorer {
 public:
  Restorer(const std::string& dir, const Notice& notice, const RestoreProgress& progress,
           const RestoreDestination* elsewhere)
      : dir_(dir),
        notice_(notice),
        progress_(progress),
        elsewhere_(elsewhere),
        where_(elsewhere ? elsewhere->name : dir) {}

  void run(ByteSource& in, const std::string& name) {
    ZstdReader zstd(in, name);
    TarReader tar(zstd, name);
    std::vector<uint8_t> buf(kCopyBufferSize);
    report(zstd);
    try {
      while (auto h = tar.next()) {
        entry(*h, tar, zstd, buf);
        report(zstd);
      }
      finish_block();
      // Read what follows the end marker too, so that damage there (a bad
      // frame checksum) is not passed over.
      while (zstd.read(buf) > 0) {
      }
      report(zstd);
    } catch (const OutputFailure&) {
      cur_.reset();  // removes the block's temporary directory
      throw;
    } catch (const Error& e) {
      result_.damage = e.what();
      if (cur_ && cur_->state == PendingBlock::State::kWriting)
        notice_("block " + cur_->ulid +
                " is incomplete where the stream is damaged; not installed");
      cur_.reset();
    }
  }

  RestoreResult& result() { return result_; }

 private:
  void report(const ZstdReader& zstd) {
    if (progress_) progress_(done_.size(), zstd.compressed_bytes_read());
  }

  void refuse(PendingBlock& b, const std::string& why) {
    notice_("block " + b.ulid + " refused: " + why);
    if (b.state == PendingBlock::State::kSkipping) std::erase(result_.skipped, b.ulid);
    if (b.state != PendingBlock::State::kRefused) ++result_.refused;
    b.state = PendingBlock::State::kRefused;
    b.remove_tmp();
  }

  void start_block(const std::string& ulid) {
    cur_.emplace();
    cur_->ulid = ulid;
    if (done_.count(ulid)) {
      // Its entries were not together, or came after its meta.json.
      cur_->state = PendingBlock::State::kRefused;
      ++result_.refused;
      notice_("block " + ulid + " refused: more entries after the block was complete");
      return;
    }
    std::error_code ec;
    if (fs::exists(fs::symlink_status(dir_ + "/" + ulid, ec)) ||
        (elsewhere_ && elsewhere_->present(ulid))) {
      cur_->state = PendingBlock::State::kSkipping;
      result_.skipped.push_back(ulid);
      notice_("block " + ulid + " already present in " + where_ + "; skipped");
      return;
    }
    cur_->tmp = dir_ + "/" + ulid + std::string(BlockWriter::kTmpSuffix);
    fs::remove_all(cur_->tmp, ec);
    if (!fs::create_directory(cur_->tmp, ec) || ec)
      throw OutputFailure(cur_->tmp +
                          ": cannot create directory: " + (ec ? ec.message() : "it exists"));
  }

  void entry(const TarHeader& h, TarReader& tar, ZstdReader& zstd, std::vector<uint8_t>& buf) {
    EntryCheck c = check_block_entry(h);
    if (c.ok && c.ulid.empty()) return;  // the archive root "./"
    if (!c.ok) notice_("refused archive entry " + quoted(h.name) + ": " + c.reason);
    if (c.ulid.empty()) {
      // Belongs to no block: it spoils the block being read, if any.
      if (cur_ && cur_->state != PendingBlock::State::kRefused)
        refuse(*cur_, "archive entry " + quoted(h.name) + " among its entries");
      else if (!cur_)
        ++result_.refused;
      return;
    }
    if (!cur_ || cur_->ulid != c.ulid) {
      finish_block();
      start_block(c.ulid);
    }
    PendingBlock& b = *cur_;
    if (!c.ok) {
      if (b.state != PendingBlock::State::kRefused)
        refuse(b, "archive entry " + quoted(h.name) + ": " + c.reason);
      return;
    }
    if (b.state != PendingBlock::State::kWriting) return;
    if (c.is_dir) {
      if (c.file == "chunks") make_chunks_dir(b);
      return;
    }
    if (!b.files.insert(c.file).second) {
      refuse(b, "archive entry " + quoted(h.name) + " appears twice");
      return;
    }
    if (c.file.starts_with("chunks/")) make_chunks_dir(b);
    std::optional<FileWriter> out;
    writing_output([&] { out.emplace(b.tmp + "/" + c.file, /*buffer_size=*/0, 0644); });
    for (size_t n; (n = tar.read(buf)) > 0;) {  // stream damage stays damage
      writing_output([&] { out->write(std::span<const uint8_t>(buf.data(), n)); });
      report(zstd);
    }
    writing_output([&] { out->close(); });  // fsyncs
    b.bytes += h.size;
    if (c.file == "meta.json") {
      b.meta_seen = true;
      // A backup ends a zstd frame after each block's meta.json: the block
      // is complete and its frame checksum verified. (In other archives the
      // block ends with the next block or the end of the archive.)
      tar.finish_entry();
      if (zstd.at_frame_end()) finish_block();
    }
  }

  void make_chunks_dir(PendingBlock& b) {
    std::string d = b.tmp + "/chunks";
    std::error_code ec;
    fs::create_directory(d, ec);
    if (ec) throw OutputFailure(d + ": cannot create directory: " + ec.message());
  }

  // The current block's entries are all read: check and install it.
  void finish_block() {
    if (!cur_) return;
    PendingBlock& b = *cur_;
    done_.insert(b.ulid);
    if (b.state == PendingBlock::State::kWriting) install(b);
    cur_.reset();
  }

  void install(PendingBlock& b) {
    if (!b.meta_seen) return refuse(b, "incomplete: the archive holds no meta.json for it");
    try {
      check_block(b.tmp, b.ulid);
    } catch (const Error& e) {
      return refuse(b, std::string("failed verification: ") + e.what());
    }
    std::error_code ec;
    writing_output([&] {
      if (fs::is_directory(b.tmp + "/chunks", ec)) fsutil::fsync_dir(b.tmp + "/chunks");
      fsutil::fsync_dir(b.tmp);
    });
    std::string final_dir = dir_ + "/" + b.ulid;
    if (fs::exists(fs::symlink_status(final_dir, ec))) {
      result_.skipped.push_back(b.ulid);
      notice_("block " + b.ulid + " appeared in " + dir_ + " meanwhile; skipped");
      b.remove_tmp();
      return;
    }
    writing_output([&] { fsutil::rename_synced(b.tmp, final_dir); });
    b.tmp.clear();
    if (elsewhere_) writing_output([&] { elsewhere_->deliver(final_dir); });
    result_.installed.push_back(b.ulid);
    result_.bytes += b.bytes;
    notice_("block " + b.ulid + " restored (" + std::to_string(b.bytes) + " bytes)");
  }

  std::string dir_;
  const Notice& notice_;
  const RestoreProgress& progress_;
  const RestoreDestination* elsewhere_;
  std::string where_;  // the destination's name in messages
  RestoreResult result_;
  std::optional<PendingBlock> cur_;
  std::set<std::string> done_;
};

}  // namespace

RestoreResult restore_backup(ByteSource& in, const std::string& name, const std::string& dir,
                             const Notice& notice, const RestoreProgress& progress,
                             const RestoreDestination* elsewhere) {
  DirLock lock(dir);
  remove_leftover_tmp_dirs(dir);
  Restorer r(dir, notice, progress, elsewhere);
  r.run(in, name);
  return std::move(r.result());
}

}  // namespace promblock::archive
