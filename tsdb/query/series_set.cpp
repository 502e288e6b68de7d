#include "tsdb/query/series_set.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "tsdb/base/error.h"
#include "tsdb/base/message_format.h"
#include "tsdb/chunkenc/float_histogram.h"
#include "tsdb/chunkenc/histogram.h"
#include "tsdb/chunkenc/xor.h"
#include "tsdb/chunkenc/xor2.h"
#include "tsdb/query/postings_match.h"

namespace promblock {

namespace {

// Samples of one series in one block: decodes its chunks in order and drops
// samples inside deleted intervals.
class BlockSampleIterator final : public SampleIterator {
 public:
  BlockSampleIterator(const BlockReader& block, const Labels& labels,
                      std::vector<index::ChunkMeta> chunks, std::vector<Interval> deleted)
      : block_(block), labels_(labels), chunks_(std::move(chunks)), deleted_(std::move(deleted)) {}

  bool next() override {
    for (;;) {
      if (in_chunk_) {
        if (hist_    ? step_histogram(hist_, histogram_)
            : fhist_ ? step_histogram(fhist_, float_histogram_)
            : xor2_  ? step_xor2()
                     : step_xor()) {
          if (!deleted_.empty() && is_deleted(deleted_, t_)) continue;
          return true;
        }
        in_chunk_ = false;
      }
      if (next_chunk_ >= chunks_.size()) return false;
      open_chunk(chunks_[next_chunk_++]);
    }
  }
  int64_t t() const override { return t_; }
  double v() const override { return v_; }
  const chunkenc::HistogramSample* histogram() const override {
    return hist_ ? &histogram_ : nullptr;
  }
  const chunkenc::FloatHistogramSample* float_histogram() const override {
    return fhist_ ? &float_histogram_ : nullptr;
  }

 private:
  bool step_xor() {
    if (!xor_.next()) {
      if (!xor_.err().empty()) fail_chunk(xor_.err());
      return false;
    }
    t_ = xor_.t(), v_ = xor_.v();
    return true;
  }
  bool step_xor2() {
    if (!xor2_->next()) {
      if (!xor2_->err().empty()) fail_chunk(xor2_->err());
      return false;
    }
    t_ = xor2_->t(), v_ = xor2_->v();
    return true;
  }
  template <class Iterator, class Sample>
  bool step_histogram(std::optional<Iterator>& it, Sample& out) {
    if (!it->next()) {
      if (!it->err().empty()) fail_chunk(it->err());
      return false;
    }
    it->at(out);
    t_ = it->t(), v_ = out.sum;
    return true;
  }
  void open_chunk(const index::ChunkMeta& meta) {
    current_ref_ = meta.ref;
    auto chunk = block_.chunks().chunk(meta.ref);
    hist_.reset();
    fhist_.reset();
    xor2_.reset();
    using chunkenc::Encoding;
    using chunkenc::HistogramFormat;
    // Start timestamps (encodings 4-6) are not shown: promtool dump prints
    // none either.
    switch (Encoding(chunk.encoding)) {
      case Encoding::kXOR:
        xor_ = chunkenc::XorIterator(chunk.data);
        break;
      case Encoding::kXOR2:
        xor2_.emplace(chunk.data);
        break;
      case Encoding::kHistogram:
        hist_.emplace(chunk.data, HistogramFormat::kPlain);
        break;
      case Encoding::kHistogramST:
        hist_.emplace(chunk.data, HistogramFormat::kWithST);
        break;
      case Encoding::kFloatHistogram:
        fhist_.emplace(chunk.data, HistogramFormat::kPlain);
        break;
      case Encoding::kFloatHistogramST:
        fhist_.emplace(chunk.data, HistogramFormat::kWithST);
        break;
      default:
        fail_chunk("unsupported chunk encoding " + chunkenc::encoding_name(chunk.encoding));
    }
    in_chunk_ = true;
  }
  [[noreturn]] void fail_chunk(const std::string& what) const {
    fail(block_.dir() + "/chunks",
         "chunk " + hex64(current_ref_) + " of series " + labels_to_string(labels_) + ": " + what);
  }

  const BlockReader& block_;
  Labels labels_;
  std::vector<index::ChunkMeta> chunks_;
  std::vector<Interval> deleted_;
  size_t next_chunk_ = 0;
  uint64_t current_ref_ = 0;
  bool in_chunk_ = false;
  chunkenc::XorIterator xor_{std::span<const uint8_t>()};
  std::optional<chunkenc::Xor2Iterator> xor2_;       // set while in an XOR2 chunk
  std::optional<chunkenc::HistogramIterator> hist_;  // set while in a histogram chunk
  chunkenc::HistogramSample histogram_;
  std::optional<chunkenc::FloatHistogramIterator> fhist_;  // set while in a float histogram chunk
  chunkenc::FloatHistogramSample float_histogram_;
  int64_t t_ = 0;
  double v_ = 0;
};

}  // namespace

BlockSeriesSet::BlockSeriesSet(const BlockReader& block, const std::vector<Matcher>& matchers,
                               int64_t min_time, int64_t max_time)
    : block_(block),
      min_time_(min_time),
      max_time_(max_time),
      postings_(postings_for_matchers(block.index(), matchers)),
      it_(postings_.begin()),
      end_(postings_.end()) {}

bool BlockSeriesSet::next() {
  for (;;) {
    if (started_) ++it_;
    started_ = true;
    if (it_ == end_) return false;
    ref_ = *it_;
    block_.index().series(ref_, labels_, chunks_);
    // Keep chunks that overlap the queried range.
    std::erase_if(chunks_, [&](const index::ChunkMeta& c) {
      return c.max_time < min_time_ || c.min_time > max_time_;
    });
    if (chunks_.empty()) continue;
    deleted_.clear();
    if (auto it = block_.tombstones().find(ref_); it != block_.tombstones().end())
      deleted_ = it->second;
    // Chunks inside one tombstone interval are gone; a series left with none
    // is not yielded (Prometheus's querier skips it too, which shows when
    // only series labels are listed).
    std::erase_if(chunks_, [&](const index::ChunkMeta& c) {
      return std::any_of(deleted_.begin(), deleted_.end(), [&](const Interval& d) {
        return d.min_time <= c.min_time && c.max_time <= d.max_time;
      });
    });
    if (chunks_.empty()) continue;
    // Samples outside the range are trimmed as if deleted, like Prometheus.
    if (chunks_.front().min_time < min_time_)
      deleted_.push_back({std::numeric_limits<int64_t>::min(), min_time_ - 1});
    if (chunks_.back().max_time > max_time_)
      deleted_.push_back({max_time_ + 1, std::numeric_limits<int64_t>::max()});
    return true;
  }
}

std::unique_ptr<SampleIterator> BlockSeriesSet::samples() const {
  return std::make_unique<BlockSampleIterator>(block_, labels_, chunks_, deleted_);
}

MergedSeriesSet::MergedSeriesSet(std::vector<std::unique_ptr<SeriesSet>> sets)
    : sets_(std::move(sets)), merge_(pointers(sets_)) {}

std::vector<SeriesSet*> MergedSeriesSet::pointers(
    const std::vector<std::unique_ptr<SeriesSet>>& sets) {
  std::vector<SeriesSet*> out;
  for (const auto& s : sets) out.push_back(s.get());
  return out;
}

bool MergedSeriesSet::next() { return merge_.next(); }

std::unique_ptr<SampleIterator> MergedSeriesSet::samples() const {
  auto group = merge_.group();
  if (group.size() == 1) return merge_.child(group[0]).samples();
  std::vector<std::unique_ptr<SampleIterator>> children;
  for (size_t i : group) children.push_back(merge_.child(i).samples());
  return std::make_unique<ChainSampleIterator>(std::move(children));
}

}  // namespace promblock
