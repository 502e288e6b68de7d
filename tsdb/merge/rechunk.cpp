#include "tsdb/merge/rechunk.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "tsdb/chunkenc/xor2.h"
#include "tsdb/chunkenc/xor_batch.h"
#include "tsdb/chunkenc/xor_lanes.h"
#include "tsdb/chunks/segment_format.h"

namespace promblock::merge {

namespace {

// True when samples[i..] starts with every sample of source chunk c, in
// order, and nothing else in between.
bool is_whole_chunk(std::span<const TaggedSample> samples, size_t i, uint32_t c, uint32_t count) {
  if (count == 0 || i + count > samples.size()) return false;
  for (uint32_t k = 0; k < count; ++k)
    if (samples[i + k].chunk != c || samples[i + k].position != k) return false;
  return true;
}

// The index of the first sample from i on that starts its chunk, or the
// run's size: runs hold a chunk start per hundred samples or so, and this
// runs over every merged sample.
size_t next_chunk_start(std::span<const TaggedSample> samples, size_t i) {
  const size_t n = samples.size();
  const TaggedSample* s = samples.data();
  // Four at a time, one branch for all four.
  for (; i + 4 <= n; i += 4)
    if ((s[i].position == 0) | (s[i + 1].position == 0) | (s[i + 2].position == 0) |
        (s[i + 3].position == 0))
      break;
  while (i < n && s[i].position != 0) ++i;
  return i;
}

}  // namespace

void Rechunker::add_verbatim(const SourceChunk& s, std::vector<ChunkData>& out) {
  out.push_back({s.min_time, s.max_time, s.encoding, s.data, s.num_samples, s.crc, s.origin,
                 s.origin_ref, s.unread});
  ++copied_;
  unread_ += s.unread;
}

void Rechunker::add(std::span<const TaggedSample> samples, std::span<const SourceChunk> sources,
                    std::vector<ChunkData>& out, HistogramStore histograms, StartTimes starts,
                    SourceRange used) {
  add_samples(samples, sources, out, histograms, starts, used);
  // Held until eight fill the lanes: regions between whole chunks often
  // hold two to four, and fewer lanes cost about as much as eight.
  if (hold_float_chunks_) hold_waiting_chunks();
}

void Rechunker::add_samples(std::span<const TaggedSample> samples,
                            std::span<const SourceChunk> sources, std::vector<ChunkData>& out,
                            HistogramStore histograms, StartTimes starts, SourceRange used) {
  samples_ = samples, sources_ = sources, histograms_ = histograms, starts_ = starts;
  // Only the run's own sources: looking at all of a series' for each of
  // its regions grew with the square of its chunks.
  const size_t end = std::min(used.end, sources.size()), first = std::min(used.first, end);
  const auto own = sources.subspan(first, end - first);
  any_histograms_ = std::any_of(own.begin(), own.end(), [](const SourceChunk& c) {
    return !chunkenc::is_float_encoding(c.encoding);
  });
  any_xor2_ = std::any_of(own.begin(), own.end(), [](const SourceChunk& c) {
    return c.encoding == uint8_t(chunkenc::Encoding::kXOR2);
  });
  size_t pending_from = 0;
  // Only the start of a chunk can start a whole one.
  for (size_t i = next_chunk_start(samples, 0); i < samples.size();) {
    const TaggedSample& s = samples[i];
    if (is_whole_chunk(samples, i, s.chunk, sources[s.chunk].num_samples) &&
        may_copy(sources[s.chunk]) && (!any_histograms_ || header_holds(i))) {
      uint32_t count = sources[s.chunk].num_samples;
      encode(pending_from, i, out);
      add_verbatim(sources[s.chunk], out);
      i += count;
      pending_from = i;
    } else {
      ++i;
    }
    i = next_chunk_start(samples, i);
  }
  encode(pending_from, samples.size(), out);
  // Outside a series every chunk is written before add() returns.
  if (!hold_float_chunks_) encode_float_chunks(true);
}

void Rechunker::add_floats_kept(std::span<const FloatSample> samples,
                                std::span<const WholeChunk> whole,
                                std::span<const SourceChunk> sources, std::vector<ChunkData>& out) {
  size_t from = 0;
  for (const WholeChunk& w : whole) {
    place_float_chunks(samples.subspan(from, w.at - from), out);
    add_verbatim(sources[w.source], out);
    from = w.at + sources[w.source].num_samples;
  }
  place_float_chunks(samples.subspan(from), out);
  if (!hold_float_chunks_) encode_float_chunks(true);
}

void Rechunker::hold_waiting_chunks() {
  for (FloatChunk& c : float_chunks_) {
    if (c.held_at != kInRun) continue;
    const size_t at = held_samples_.size();
    held_samples_.resize(at + c.n);
    FloatSample* held = held_samples_.data() + at;
    with_samples(c, [&](const auto* samples) {
      for (uint32_t k = 0; k < c.n; ++k) held[k] = {samples[k].t, samples[k].v_bits};
    });
    c.held_at = at;
  }
}

namespace {

template <class Sample>
constexpr uint8_t kEncodingOf = uint8_t(std::is_same_v<Sample, chunkenc::HistogramSample>
                                            ? chunkenc::Encoding::kHistogram
                                            : chunkenc::Encoding::kFloatHistogram);

}  // namespace

template <class Sample>
const Sample& Rechunker::histogram(const TaggedSample& s) const {
  if constexpr (std::is_same_v<Sample, chunkenc::HistogramSample>)
    return histograms_.ints[s.v_bits];
  else
    return histograms_.floats[s.v_bits];
}

template <class Sample>
const Sample* Rechunker::histogram_before(size_t i) const {
  while (i > 0 && kind_of(samples_[i - 1]) == kEncodingOf<Sample>) {
    const Sample& h = histogram<Sample>(samples_[--i]);
    if (!is_stale(h)) return &h;
  }
  return nullptr;
}

bool Rechunker::header_holds(size_t i) const {
  const SourceChunk& c = sources_[samples_[i].chunk];
  if (chunkenc::is_float_encoding(c.encoding) || c.data.size() < 3) return true;
  auto header =
      chunkenc::counter_reset_header_of(c.data, chunkenc::histogram_format_of(c.encoding));
  if (header == chunkenc::CounterResetHeader::kUnknown ||
      header == chunkenc::CounterResetHeader::kGauge)
    return true;
  // With nothing before it here, the chunk follows what it followed in its
  // own block.
  auto holds = [&](const auto* prev, const auto& first) {
    return !prev || counter_header_after(prev, first) == header;
  };
  if (kind_of(samples_[i]) == kEncodingOf<chunkenc::HistogramSample>)
    return holds(histogram_before<chunkenc::HistogramSample>(i),
                 histogram<chunkenc::HistogramSample>(samples_[i]));
  return holds(histogram_before<chunkenc::FloatHistogramSample>(i),
               histogram<chunkenc::FloatHistogramSample>(samples_[i]));
}

void Rechunker::encode(size_t from, size_t to, std::vector<ChunkData>& out) {
  if (!any_histograms_) return encode_floats(samples_.subspan(from, to - from), out);
  // A series may switch between floats and histograms: each switch starts
  // a chunk of the other encoding.
  while (from < to) {
    const uint8_t encoding = kind_of(samples_[from]);
    size_t end = from + 1;
    while (end < to && kind_of(samples_[end]) == encoding) ++end;
    if (encoding == kEncodingOf<chunkenc::HistogramSample>)
      encode_histograms<chunkenc::HistogramSample>(from, end, out);
    else if (encoding == kEncodingOf<chunkenc::FloatHistogramSample>)
      encode_histograms<chunkenc::FloatHistogramSample>(from, end, out);
    else
      encode_floats(samples_.subspan(from, end - from), out);
    from = end;
  }
}

template <class Sample>
void Rechunker::encode_histograms(size_t from, size_t to, std::vector<ChunkData>& out) {
  std::vector<BasicHistogramRef<Sample>> refs;
  for (size_t i = from; i < to; ++i) {
    const TaggedSample& s = samples_[i];
    const SourceChunk& c = sources_[s.chunk];
    bool gauge =
        chunkenc::counter_reset_header_of(c.data, chunkenc::histogram_format_of(c.encoding)) ==
        chunkenc::CounterResetHeader::kGauge;
    int64_t st = output_ == OutputEncodings::kLegacy ? 0 : start_of(s);
    refs.push_back({s.t, &histogram<Sample>(s), gauge, st});
  }
  for (const auto& chunk : plan_histogram_chunks(refs, histogram_before<Sample>(from))) {
    auto part = std::span<const BasicHistogramRef<Sample>>(refs).subspan(chunk.begin,
                                                                         chunk.end - chunk.begin);
    encode_histogram_chunk(part, chunk.header, encoded_);
    // Start timestamps: encodings 5 and 6 (chunk.h).
    uint8_t encoding = kEncodingOf<Sample> + (part.front().st != 0 ? 3 : 0);
    emit(encoded_, encoding, part.front().t, part.back().t, uint32_t(part.size()), out);
  }
}

void Rechunker::emit(std::span<const uint8_t> encoded, uint8_t encoding, int64_t min_time,
                     int64_t max_time, uint32_t n, std::vector<ChunkData>& out) {
  std::copy(encoded.begin(), encoded.end(), bytes().reserve(encoded.size()));
  auto stored = bytes().take(encoded.size());
  out.push_back({min_time, max_time, encoding, stored, n, chunks::chunk_crc(encoding, stored)});
  ++reencoded_;
}

void Rechunker::encode_floats_st(std::span<const TaggedSample> samples,
                                 std::vector<ChunkData>& out) {
  constexpr auto kXOR = uint8_t(chunkenc::Encoding::kXOR);
  constexpr auto kXOR2 = uint8_t(chunkenc::Encoding::kXOR2);
  size_t i = 0;
  while (i < samples.size()) {
    // The chunk's encoding is what its first sample wants; later samples
    // that want the other one stay in it (XOR and XOR2 append alike),
    // except one with a start timestamp, which an XOR chunk cannot hold.
    auto wants = [&](const TaggedSample& s) {
      return start_of(s) != 0 || encoding_of(s) == kXOR2 ? kXOR2 : kXOR;
    };
    const uint8_t encoding = wants(samples[i]);
    const size_t first = i;
    if (encoding == kXOR2) {
      chunkenc::Xor2Encoder enc;
      for (; i < samples.size() && i - first < kMaxSamplesPerChunk; ++i)
        enc.append(samples[i].t, samples[i].v_bits, start_of(samples[i]));
      emit(enc.bytes(), kXOR2, samples[first].t, samples[i - 1].t, enc.num_samples(), out);
    } else {
      chunkenc::XorEncoder enc;
      for (; i < samples.size() && i - first < kMaxSamplesPerChunk; ++i) {
        if (i > first && start_of(samples[i]) != 0) break;
        enc.append_bits(samples[i].t, samples[i].v_bits);
      }
      emit(enc.bytes(), kXOR, samples[first].t, samples[i - 1].t, enc.num_samples(), out);
    }
  }
}

void Rechunker::encode_floats(std::span<const TaggedSample> samples, std::vector<ChunkData>& out) {
  // Only series with XOR2 sources scan their samples for them.
  if (output_ == OutputEncodings::kKeep && any_xor2_ &&
      std::any_of(samples.begin(), samples.end(), [&](const TaggedSample& s) {
        return encoding_of(s) == uint8_t(chunkenc::Encoding::kXOR2);
      }))
    return encode_floats_st(samples, out);
  place_float_chunks(samples, out);
}

template <class Sample>
void Rechunker::place_float_chunks(std::span<const Sample> samples, std::vector<ChunkData>& out) {
  const bool in_lanes = chunkenc::xor_lanes_supported();
  while (!samples.empty()) {
    const size_t n = std::min(samples.size(), kMaxSamplesPerChunk);
    out.push_back({samples[0].t, samples[n - 1].t, uint8_t(chunkenc::Encoding::kXOR), {}, 0, {}});
    if (!in_lanes) {
      write_float_chunk(samples.data(), uint32_t(n), out.back());
    } else {
      // Its place is taken now, its bytes written by encode_float_chunks
      // with others'.
      float_chunks_.push_back({&out, out.size() - 1,
                               reinterpret_cast<const uint8_t*>(samples.data()), kInRun,
                               uint32_t(n), uint32_t(sizeof(Sample))});
      if (float_chunks_.size() == chunkenc::XorLaneEncoder::kLanes) encode_float_chunks(false);
    }
    samples = samples.subspan(n);
  }
}

template <class Sample>
void Rechunker::write_float_chunk(const Sample* samples, uint32_t n, ChunkData& chunk) {
  uint8_t* dst = bytes().reserve(chunkenc::xor_max_encoded_size(n));
  stored_float_chunk(bytes().take(chunkenc::xor_encode_chunk(samples, n, dst)), n, chunk);
}

void Rechunker::stored_float_chunk(std::span<const uint8_t> stored, uint32_t n, ChunkData& chunk) {
  chunk.data = stored;
  chunk.num_samples = n;
  chunk.crc = chunks::chunk_crc(uint8_t(chunkenc::Encoding::kXOR), stored);
  ++reencoded_;
}

void Rechunker::encode_float_chunks(bool all) {
  // In lanes, while at least kMinLaneChunks are left: with fewer, a lane
  // step costs more than encoding the busy lanes' samples one by one.
  constexpr size_t kMinLaneChunks = 4;
  constexpr size_t kLanes = chunkenc::XorLaneEncoder::kLanes;
  constexpr size_t kRoom = chunkenc::XorLaneEncoder::room(kMaxSamplesPerChunk);
  const size_t count = float_chunks_.size();
  if (count == 0 || (count < kLanes && !all)) return;
  size_t next = 0;
  lanes_out_.resize(kLanes * kRoom);
  while (count - next >= kMinLaneChunks) {
    chunkenc::XorLaneEncoder::Chunk lanes[kLanes];
    const size_t n = std::min(kLanes, count - next);
    for (size_t j = 0; j < n; ++j) {
      const FloatChunk& c = float_chunks_[next + j];
      lanes[j] = {nullptr, c.n, lanes_out_.data() + j * kRoom};
      with_samples(c, [&](const auto* samples) {
        lanes[j].samples = samples;
        lanes[j].stride = sizeof(*samples);
      });
    }
    chunkenc::XorLaneEncoder::encode(std::span(lanes, n));
    for (size_t j = 0; j < n; ++j) {
      const FloatChunk& c = float_chunks_[next + j];
      std::memcpy(bytes().reserve(lanes[j].size), lanes[j].dst, lanes[j].size);
      stored_float_chunk(bytes().take(lanes[j].size), c.n, (*c.out)[c.index]);
    }
    next += n;
  }
  for (; next < count; ++next) {
    const FloatChunk& c = float_chunks_[next];
    with_samples(c,
                 [&](const auto* samples) { write_float_chunk(samples, c.n, (*c.out)[c.index]); });
  }
  float_chunks_.clear();
  held_samples_.clear();
}

}  // namespace promblock::merge
