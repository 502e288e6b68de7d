#include "tsdb/merge/histogram_rechunk.h"

#include <algorithm>
#include <bit>
#include <map>

#include "tsdb/chunkenc/float_histogram_encoder.h"
#include "tsdb/chunkenc/histogram_encoder.h"
#include "tsdb/merge/rechunk.h"

namespace promblock::merge {

using chunkenc::CounterResetHeader;
using chunkenc::FloatHistogramSample;
using chunkenc::HistogramLayout;
using chunkenc::HistogramSample;
using chunkenc::HistogramSpan;

namespace {

bool same_spans(const std::vector<HistogramSpan>& a, const std::vector<HistogramSpan>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.offset == y.offset && x.length == y.length;
  });
}

// Samples of one chunk must agree on these; spans may differ (union).
bool same_resolution(const HistogramLayout& a, const HistogramLayout& b) {
  return a.schema == b.schema &&
         std::bit_cast<uint64_t>(a.zero_threshold) == std::bit_cast<uint64_t>(b.zero_threshold) &&
         a.custom_bounds == b.custom_bounds;
}

// Calls f(bucket index, count) for each bucket the spans describe.
template <class Count, class F>
void for_each_bucket(const std::vector<HistogramSpan>& spans, const std::vector<Count>& counts,
                     F f) {
  int64_t index = 0;
  size_t k = 0;
  for (const auto& s : spans) {
    index += s.offset;
    for (uint32_t j = 0; j < s.length && k < counts.size(); ++j) f(index++, counts[k++]);
  }
}

// True when a bucket populated in `prev` holds less in `cur` (or is gone).
template <class Count>
bool bucket_went_down(const std::vector<HistogramSpan>& prev_spans,
                      const std::vector<Count>& prev_counts,
                      const std::vector<HistogramSpan>& cur_spans,
                      const std::vector<Count>& cur_counts) {
  if (same_spans(prev_spans, cur_spans)) {
    for (size_t i = 0; i < prev_counts.size() && i < cur_counts.size(); ++i)
      if (cur_counts[i] < prev_counts[i]) return true;
    return false;
  }
  std::map<int64_t, Count> now;
  for_each_bucket(cur_spans, cur_counts, [&](int64_t i, Count c) { now[i] = c; });
  bool down = false;
  for_each_bucket(prev_spans, prev_counts, [&](int64_t i, Count c) {
    auto it = now.find(i);
    if (c > 0 && (it == now.end() || it->second < c)) down = true;
  });
  return down;
}

// Spans covering exactly the given sorted, distinct bucket indices.
std::vector<HistogramSpan> spans_of(const std::vector<int64_t>& indices) {
  std::vector<HistogramSpan> spans;
  int64_t next = 0;  // the index after the previous span
  for (size_t i = 0; i < indices.size(); ++i) {
    if (i > 0 && indices[i] == indices[i - 1] + 1) {
      ++spans.back().length;
    } else {
      spans.push_back({int32_t(indices[i] - next), 1});
    }
    next = indices[i] + 1;
  }
  return spans;
}

// The chunk's spans for one side (positive or negative): a sample's own
// when they cover every bucket of the chunk, else the union.
template <class Sample>
const std::vector<HistogramSpan>& union_spans(
    std::span<const BasicHistogramRef<Sample>> samples,
    std::vector<HistogramSpan> chunkenc::HistogramLayout::*side, std::vector<HistogramSpan>& tmp) {
  std::vector<int64_t> all;
  for (const auto& r : samples) {
    if (is_stale(*r.h)) continue;
    const auto& spans = r.h->layout.*side;
    int64_t index = 0;
    for (const auto& s : spans) {
      index += s.offset;
      for (uint32_t j = 0; j < s.length; ++j) all.push_back(index++);
    }
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (const auto& r : samples) {
    if (is_stale(*r.h)) continue;
    uint64_t n = 0;
    for (const auto& s : r.h->layout.*side) n += s.length;
    // A sample's buckets are distinct, so covering as many as the union
    // means covering all of them.
    if (n == all.size()) return r.h->layout.*side;
  }
  tmp = spans_of(all);
  return tmp;
}

// `counts` laid out on `spans` re-laid on the (superset) `target` spans.
template <class Count>
void expand(const std::vector<HistogramSpan>& spans, const std::vector<Count>& counts,
            const std::vector<HistogramSpan>& target, std::vector<Count>& out) {
  std::map<int64_t, Count> have;
  for_each_bucket(spans, counts, [&](int64_t i, Count c) { have[i] = c; });
  out.clear();
  int64_t index = 0;
  for (const auto& s : target) {
    index += s.offset;
    for (uint32_t j = 0; j < s.length; ++j, ++index) {
      auto it = have.find(index);
      out.push_back(it == have.end() ? 0 : it->second);
    }
  }
}

template <class Sample>
bool stale_sample(const Sample& h) {
  return std::bit_cast<uint64_t>(h.sum) == chunkenc::kStaleNaNBits;
}

template <class Sample>
CounterChange change_of(const Sample& prev, const Sample& cur) {
  if (!same_resolution(prev.layout, cur.layout)) return CounterChange::kIncomparable;
  if (cur.count < prev.count || cur.zero_count < prev.zero_count) return CounterChange::kReset;
  if (bucket_went_down(prev.layout.positive_spans, prev.positive, cur.layout.positive_spans,
                       cur.positive) ||
      bucket_went_down(prev.layout.negative_spans, prev.negative, cur.layout.negative_spans,
                       cur.negative))
    return CounterChange::kReset;
  return CounterChange::kNoReset;
}

template <class Sample>
CounterResetHeader header_after(const Sample* prev, const Sample& first) {
  if (!prev || stale_sample(first)) return CounterResetHeader::kUnknown;
  switch (change_of(*prev, first)) {
    case CounterChange::kNoReset:
      return CounterResetHeader::kNotCounterReset;
    case CounterChange::kReset:
      return CounterResetHeader::kCounterReset;
    case CounterChange::kIncomparable:
      break;
  }
  return CounterResetHeader::kUnknown;
}

template <class Sample>
std::vector<HistogramChunkPlan> plan_chunks(std::span<const BasicHistogramRef<Sample>> samples,
                                            const Sample* before) {
  std::vector<HistogramChunkPlan> plan;
  const Sample* last_real = before;      // the last non-stale sample so far
  const Sample* chunk_layout = nullptr;  // the first real sample of the open chunk
  auto open = [&](size_t i) {
    const BasicHistogramRef<Sample>& r = samples[i];
    auto header = r.gauge ? CounterResetHeader::kGauge : header_after(last_real, *r.h);
    if (!plan.empty()) plan.back().end = i;
    plan.push_back({i, i, header});
    chunk_layout = stale_sample(*r.h) ? nullptr : r.h;
  };
  for (size_t i = 0; i < samples.size(); ++i) {
    const BasicHistogramRef<Sample>& r = samples[i];
    const bool stale = stale_sample(*r.h);
    bool cut = plan.empty();
    if (!cut) {
      const HistogramChunkPlan& c = plan.back();
      const BasicHistogramRef<Sample>& prev = samples[i - 1];
      cut = i - c.begin >= kMaxSamplesPerChunk || r.gauge != samples[c.begin].gauge ||
            (stale_sample(*prev.h) && !stale) || (r.st != 0) != (samples[c.begin].st != 0);
      if (!cut && !stale && chunk_layout) {
        cut = !same_resolution(chunk_layout->layout, r.h->layout) ||
              (!r.gauge && change_of(*last_real, *r.h) != CounterChange::kNoReset);
      }
    }
    if (cut) open(i);
    if (!stale) {
      last_real = r.h;
      if (!chunk_layout) chunk_layout = r.h;
    }
  }
  if (!plan.empty()) plan.back().end = samples.size();
  return plan;
}

template <class Sample, class Encoder>
void encode_chunk(std::span<const BasicHistogramRef<Sample>> samples, CounterResetHeader header,
                  std::vector<uint8_t>& out) {
  std::vector<HistogramSpan> pos_tmp, neg_tmp;
  const auto& pos = union_spans<Sample>(samples, &HistogramLayout::positive_spans, pos_tmp);
  const auto& neg = union_spans<Sample>(samples, &HistogramLayout::negative_spans, neg_tmp);
  Encoder encoder(header, !samples.empty() && samples.front().st != 0
                              ? chunkenc::HistogramFormat::kWithST
                              : chunkenc::HistogramFormat::kPlain);
  Sample relaid;
  for (const auto& r : samples) {
    const Sample& h = *r.h;
    if (stale_sample(h) ||
        (same_spans(h.layout.positive_spans, pos) && same_spans(h.layout.negative_spans, neg))) {
      encoder.append(r.t, h, r.st);
      continue;
    }
    relaid.layout = h.layout;
    relaid.layout.positive_spans = pos;
    relaid.layout.negative_spans = neg;
    relaid.count = h.count, relaid.zero_count = h.zero_count, relaid.sum = h.sum;
    expand(h.layout.positive_spans, h.positive, pos, relaid.positive);
    expand(h.layout.negative_spans, h.negative, neg, relaid.negative);
    encoder.append(r.t, relaid, r.st);
  }
  auto bytes = encoder.bytes();
  out.assign(bytes.begin(), bytes.end());
}

}  // namespace

bool is_stale(const HistogramSample& h) { return stale_sample(h); }
bool is_stale(const FloatHistogramSample& h) { return stale_sample(h); }

CounterChange counter_change(const HistogramSample& prev, const HistogramSample& cur) {
  return change_of(prev, cur);
}
CounterChange counter_change(const FloatHistogramSample& prev, const FloatHistogramSample& cur) {
  return change_of(prev, cur);
}

CounterResetHeader counter_header_after(const HistogramSample* prev, const HistogramSample& first) {
  return header_after(prev, first);
}
CounterResetHeader counter_header_after(const FloatHistogramSample* prev,
                                        const FloatHistogramSample& first) {
  return header_after(prev, first);
}

std::vector<HistogramChunkPlan> plan_histogram_chunks(std::span<const HistogramRef> samples,
                                                      const HistogramSample* before) {
  return plan_chunks(samples, before);
}
std::vector<HistogramChunkPlan> plan_histogram_chunks(std::span<const FloatHistogramRef> samples,
                                                      const FloatHistogramSample* before) {
  return plan_chunks(samples, before);
}

void encode_histogram_chunk(std::span<const HistogramRef> samples, CounterResetHeader header,
                            std::vector<uint8_t>& out) {
  encode_chunk<HistogramSample, chunkenc::HistogramEncoder>(samples, header, out);
}
void encode_histogram_chunk(std::span<const FloatHistogramRef> samples, CounterResetHeader header,
                            std::vector<uint8_t>& out) {
  encode_chunk<FloatHistogramSample, chunkenc::FloatHistogramEncoder>(samples, header, out);
}

}  // namespace promblock::merge
