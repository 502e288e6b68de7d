#pragma once
// Iterators over the samples of one series, composable: a block's chunks
// yield one; several are merged by ChainSampleIterator.
#include <cstdint>
#include <memory>
#include <vector>

#include "tsdb/chunkenc/histogram.h"

namespace promblock {

class SampleIterator {
 public:
  virtual ~SampleIterator() = default;
  // Advances to the next sample; false at the end. Corrupt data throws Error.
  virtual bool next() = 0;
  virtual int64_t t() const = 0;
  virtual double v() const = 0;
  // The current sample when it is a native histogram (v() is then its
  // sum), else null. Valid until next().
  virtual const chunkenc::HistogramSample* histogram() const { return nullptr; }
  // The same for a float histogram.
  virtual const chunkenc::FloatHistogramSample* float_histogram() const { return nullptr; }
};

// Merges time-ordered children into one time-ordered stream with one
// sample per timestamp. On equal timestamps the earliest child wins, so the
// result is deterministic (Prometheus keeps an arbitrary one).
class ChainSampleIterator final : public SampleIterator {
 public:
  explicit ChainSampleIterator(std::vector<std::unique_ptr<SampleIterator>> children);
  bool next() override;
  int64_t t() const override { return t_; }
  double v() const override { return v_; }
  const chunkenc::HistogramSample* histogram() const override {
    return is_histogram_ ? &histogram_ : nullptr;
  }
  const chunkenc::FloatHistogramSample* float_histogram() const override {
    return is_float_histogram_ ? &float_histogram_ : nullptr;
  }

 private:
  std::vector<std::unique_ptr<SampleIterator>> children_;
  std::vector<bool> has_;  // child i is positioned on a sample not yet taken
  bool started_ = false;
  int64_t t_ = 0;
  double v_ = 0;
  bool is_histogram_ = false;
  chunkenc::HistogramSample histogram_;  // a copy: the child moves on below
  bool is_float_histogram_ = false;
  chunkenc::FloatHistogramSample float_histogram_;
};

}  // namespace promblock
