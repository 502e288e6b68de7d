#include "tsdb/merge/dedup.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace promblock::merge {

namespace {

// The common case (two replicas) without the general loop's scans.
template <class Sample, class Run>
void chain_merge_two(const Run& a, const Run& b, Run& out) {
  const size_t start = out.size();
  out.resize(start + a.size() + b.size());
  const Sample *pa = a.data(), *ea = pa + a.size();
  const Sample *pb = b.data(), *eb = pb + b.size();
  Sample* o = out.data() + start;
  // A branch per sample: the replicas' alternation is predicted, and the
  // next loads wait on nothing. Advancing b by the comparison's result
  // (pb += take_b) chained each sample's loads to the one before: small's
  // merge 6 % slower.
  while (pa < ea && pb < eb) {
    if (pa->t < pb->t) {
      *o++ = *pa++;
    } else if (pb->t < pa->t) {
      *o++ = *pb++;
    } else {  // a wins, b's is dropped
      *o++ = *pa++;
      ++pb;
    }
  }
  o = std::copy(pa, ea, o);
  o = std::copy(pb, eb, o);
  out.resize(size_t(o - out.data()));
}

template <class Sample, class Run>
void chain_merge_append_any(std::span<const Run> runs, Run& out) {
  if (runs.size() == 1) {
    out.insert(out.end(), runs[0].begin(), runs[0].end());
    return;
  }
  if (runs.size() == 2) return chain_merge_two<Sample>(runs[0], runs[1], out);
  size_t total = out.size();
  for (const auto& r : runs) total += r.size();
  out.reserve(total);
  std::vector<size_t> pos(runs.size(), 0);
  // Few runs per series (one per overlapping input chunk group): a linear
  // scan for the minimum beats a heap here.
  for (;;) {
    int best = -1;
    for (size_t i = 0; i < runs.size(); ++i)
      if (pos[i] < runs[i].size() &&
          (best < 0 || runs[i][pos[i]].t < runs[size_t(best)][pos[size_t(best)]].t))
        best = int(i);
    if (best < 0) break;
    const Sample& s = runs[size_t(best)][pos[size_t(best)]];
    out.push_back(s);
    for (size_t i = 0; i < runs.size(); ++i)
      while (pos[i] < runs[i].size() && runs[i][pos[i]].t == s.t) ++pos[i];
  }
}

}  // namespace

SampleRun chain_merge(std::span<const SampleRun> runs) {
  SampleRun out;
  chain_merge(runs, out);
  return out;
}

void chain_merge(std::span<const SampleRun> runs, SampleRun& out) {
  out.clear();
  chain_merge_append(runs, out);
}

void chain_merge_append(std::span<const SampleRun> runs, SampleRun& out) {
  chain_merge_append_any<TaggedSample>(runs, out);
}

void chain_merge_append(std::span<const FloatRun> runs, FloatRun& out) {
  chain_merge_append_any<FloatSample>(runs, out);
}

SampleRun penalty_merge(const SampleRun& a, const SampleRun& b) {
  SampleRun out;
  penalty_merge(a, b, out);
  return out;
}

namespace {

constexpr int64_t kInitialPenalty = 5000;  // ms; scrape intervals are seconds
constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

// Where penalty_merge's loop stands between two samples.
struct PenaltyState {
  size_t ia = 0, ib = 0;  // next samples of a and b
  int64_t last_t = kNone, pen_a = 0, pen_b = 0;
};

// The penalty taking a sample at t sets for the other replica, and the
// earliest time that replica may then have: Go's int64 arithmetic, which
// Thanos's does, wraps on absurd timestamps, so ours does too (signed
// overflow would be undefined).
int64_t penalty_between(int64_t t, int64_t last_t) {
  return int64_t(2 * (uint64_t(t) - uint64_t(last_t)));
}
int64_t earliest_after(int64_t last_t, int64_t pen) {
  return int64_t(uint64_t(last_t) + 1 + uint64_t(pen));
}

// penalty_merge's loop from `st` on, appending to `out`.
void penalty_loop(const SampleRun& a, const SampleRun& b, PenaltyState st, SampleRun& out) {
  // References, not a structured binding: clang before 16 cannot capture
  // those in a lambda.
  size_t &ia = st.ia, &ib = st.ib;
  int64_t &last_t = st.last_t, &pen_a = st.pen_a, &pen_b = st.pen_b;
  // Skips samples of a replica that come too soon after the last taken one.
  auto advance = [&](const SampleRun& r, size_t& i, int64_t pen) {
    if (last_t == kNone) return;
    int64_t min_t = earliest_after(last_t, pen);
    while (i < r.size() && r[i].t < min_t) ++i;
  };
  for (;;) {
    advance(a, ia, pen_a);
    advance(b, ib, pen_b);
    bool a_left = ia < a.size(), b_left = ib < b.size();
    if (!a_left && !b_left) break;
    bool take_a = a_left && (!b_left || a[ia].t <= b[ib].t);
    const TaggedSample& s = take_a ? a[ia] : b[ib];
    if (a_left && b_left) {
      // The replica not taken must wait twice the current spacing.
      int64_t pen = last_t == kNone ? kInitialPenalty : penalty_between(s.t, last_t);
      (take_a ? pen_b : pen_a) = pen;
    }
    (take_a ? pen_a : pen_b) = 0;
    last_t = s.t;
    out.push_back(s);
    ++(take_a ? ia : ib);
  }
}

// The penalty that taking a[k] (and every a sample before it) sets for
// the other replica, and the earliest time of it penalty_merge(a, other)
// still takes then.
int64_t penalty_after(const SampleRun& a, size_t k) {
  return k == 0 ? kInitialPenalty : penalty_between(a[k].t, a[k - 1].t);
}
int64_t reach_after(const SampleRun& a, size_t k) {
  return earliest_after(a[k].t, penalty_after(a, k));
}

}  // namespace

void penalty_merge(const SampleRun& a, const SampleRun& b, SampleRun& out) {
  out.clear();
  out.reserve(std::max(a.size(), b.size()));
  penalty_loop(a, b, PenaltyState{}, out);
}

SampleRun penalty_merge_all(std::span<const SampleRun> replicas) {
  SampleRun out, scratch;
  penalty_merge_all(replicas, out, scratch);
  return out;
}

void penalty_merge_all(std::span<const SampleRun> replicas, SampleRun& out, SampleRun& scratch) {
  out.clear();
  if (replicas.empty()) return;
  if (replicas.size() == 1) return out.assign(replicas[0].begin(), replicas[0].end());
  penalty_merge(replicas[0], replicas[1], out);
  // From here `out` is strictly increasing (penalty_loop never takes a
  // sample at or before the last; timestamps that wrap the arithmetic
  // aside, which the fold checks), and each further replica is folded in
  // without copying the samples of `out` before its first one: the fold
  // takes those unchanged, all from `out`, and only moves through the new
  // replica as far as the furthest reach_after() among them. Replicas that
  // follow one another in time (a merge of many blocks, each its own
  // replica) then cost their own samples, not the whole fold's each.
  std::vector<int64_t> furthest;  // furthest[k]: max of reach_after(out, 0..k)
  constexpr size_t kInOrder = std::numeric_limits<size_t>::max();
  size_t disorder = kInOrder;  // the first k where out[k] is not after out[k - 1]
  for (size_t i = 2; i < replicas.size(); ++i) {
    const SampleRun& b = replicas[i];
    if (b.empty()) continue;  // the fold takes `out` as it is
    for (size_t k = furthest.size(); k < out.size(); ++k) {
      furthest.push_back(std::max(k ? furthest[k - 1] : kNone, reach_after(out, k)));
      if (k > 0 && out[k].t <= out[k - 1].t) disorder = std::min(disorder, k);
    }
    auto before = [](const TaggedSample& s, int64_t t) { return s.t < t; };
    auto earlier = [](const TaggedSample& x, const TaggedSample& y) { return x.t < y.t; };
    // A replica out of time order (a damaged chunk) is folded in whole.
    size_t p = 0;
    if (disorder == kInOrder && std::is_sorted(b.begin(), b.end(), earlier))
      p = size_t(std::lower_bound(out.begin(), out.end(), b.front().t, before) - out.begin());
    PenaltyState st;
    if (p > 0) {
      // The state penalty_loop is in after taking out[0..p): b moved past
      // what any of those takes made too early, pen_b set by the last.
      st.ia = p;
      st.last_t = out[p - 1].t;
      st.ib = size_t(std::lower_bound(b.begin(), b.end(), furthest[p - 1], before) - b.begin());
      st.pen_b = penalty_after(out, p - 1);
    }
    scratch.clear();
    penalty_loop(out, b, st, scratch);
    out.resize(p);
    out.insert(out.end(), scratch.begin(), scratch.end());
    furthest.resize(std::min(furthest.size(), p));
    if (disorder >= p) disorder = kInOrder;
  }
}

}  // namespace promblock::merge
