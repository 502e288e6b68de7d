"""Reference implementation of `promblock merge`'s dedup modes, for the tests.

Written from the command's description (promblock-merge(1) "DEDUP MODES"
and the README), independently of the C++ engine, in plain Python.
It works on sample lists [(ts_ms, value)] where value is whatever the caller
read: the value text of `promtool tsdb dump` (the oracle) or the exact
64-bit pattern from harness.read_block (needed where stale markers matter:
dumps print them as "NaN" like any other NaN). Values are only carried, never
compared, so both kinds work.

  chain(streams)    all samples of all streams in time order, one per
                    timestamp; on equal timestamps the stream ordered first wins.
  penalty(streams)  Thanos's penalty dedup, folded pairwise in stream order:
                    penalty2(penalty2(s1, s2), s3) ...
  reference(inputs, replica_labels, mode)
                    the whole merge: reads the input blocks, names each series'
                    replica (replica label in meta.json thanos.labels, else in the
                    series labels, else the INPUT position), removes replica labels
                    (mode none: keeps them, adding external ones to the series),
                    chain-merges each replica's blocks, then dedups across
                    replicas in replica order (label value; INPUT position).
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

INITIAL_PENALTY = 5000


def chain(streams):
    """streams: sample lists sorted by time, in replica order."""
    first = {}
    for s in streams:
        for t, v in s:
            if t not in first:
                first[t] = v
    return sorted(first.items(), key=lambda tv: tv[0])


def penalty2(a, b):
    """Thanos's penalty dedup of two replicas; a is the replica ordered first."""
    out = []
    last_t = None
    pen_a = pen_b = 0
    i = j = 0
    while True:
        # Advance each replica to its first sample at or after lastT + 1 + penalty.
        if last_t is not None:
            while i < len(a) and a[i][0] < last_t + 1 + pen_a:
                i += 1
            while j < len(b) and b[j][0] < last_t + 1 + pen_b:
                j += 1
        a_left, b_left = i < len(a), j < len(b)
        if not a_left and not b_left:
            return out
        if not a_left:
            t, v = b[j]
            out.append((t, v))
            last_t, pen_b = t, 0
            continue
        if not b_left:
            t, v = a[i]
            out.append((t, v))
            last_t, pen_a = t, 0
            continue
        ta, tb = a[i][0], b[j][0]
        if ta <= tb:
            t, v = a[i]
            pen_b = 2 * (t - last_t) if last_t is not None else INITIAL_PENALTY
            pen_a = 0
        else:
            t, v = b[j]
            pen_a = 2 * (t - last_t) if last_t is not None else INITIAL_PENALTY
            pen_b = 0
        out.append((t, v))
        last_t = t


def penalty(streams):
    streams = [s for s in streams]
    if not streams:
        return []
    acc = streams[0]
    for s in streams[1:]:
        acc = penalty2(acc, s)
    return list(acc)


def dedup(mode, streams):
    if mode == "penalty":
        return penalty(streams)
    if mode in ("chain", "none"):
        return chain(streams)
    raise ValueError(mode)


# ---------------------------------------------------------------- reading inputs

def block_series(block, values="dump"):
    """[(frozenset(labels), [(ts, value)])] of one block. values="dump": value
    text of promtool tsdb dump; "bits": 64-bit patterns (harness reader)."""
    if values == "dump":
        parsed = h.parse_dump(h.promtool_dump(block))
        return [(h.parse_labels_str(s), smp) for s, smp in parsed.items()]
    if values == "bits":
        return list(h.read_block(block).samples().items())
    raise ValueError(values)


def replica_streams(inputs, replica_labels=(), mode="penalty", values="dump"):
    """{output labels: [(replica key, samples)]} sorted by replica key, where a
    replica's blocks are already chain-merged. Replica key: (0, label value) for
    replicas named by a replica label, (1, INPUT position) otherwise."""
    per = {}  # out labels -> {replica key: [sample lists of its blocks]}
    for pos, src in enumerate(inputs):
        blocks = h.block_dirs(src)
        if not blocks:
            raise AssertionError("no blocks in %s" % src)
        for blk in blocks:
            meta = h.read_meta(blk)
            ext = (meta.get("thanos") or {}).get("labels") or {}
            ext_rep = [(l, ext[l]) for l in replica_labels if l in ext]
            for lbls, samples in block_series(blk, values):
                d = dict(lbls)
                ser_rep = [(l, d[l]) for l in replica_labels if l in d]
                if ext_rep:
                    key = (0, ext_rep[0][1])
                elif ser_rep:
                    key = (0, ser_rep[0][1])
                else:
                    key = (1, pos)
                if mode == "none":
                    for l, v in ext_rep:
                        d.setdefault(l, v)
                else:
                    for l in replica_labels:
                        d.pop(l, None)
                out = frozenset(d.items())
                per.setdefault(out, {}).setdefault(key, []).append(samples)
    res = {}
    for out, reps in per.items():
        res[out] = [(key, chain(blocks)) for key, blocks in sorted(reps.items())]
    return res


def reference(inputs, replica_labels=(), mode="penalty", values="dump"):
    """What `promblock merge --dedup MODE [--replica-label L]... INPUTS` must
    write: {frozenset(labels): [(ts, value)]} (series with samples only)."""
    out = {}
    for lbls, reps in replica_streams(inputs, replica_labels, mode, values).items():
        s = dedup(mode, [smp for _, smp in reps])
        if s:
            out[lbls] = s
    return out


# ---------------------------------------------------------------- comparing

def dump_text(samples):
    """promtool dump text for {labels: [(ts, value text or bits)]}."""
    lines = []
    for lbls in sorted(samples, key=lambda l: sorted(l)):
        s = h.labels_str(lbls)
        for t, v in samples[lbls]:
            if not isinstance(v, str):
                v = h.go_format_g(h.bits_to_float(v))
            lines.append("%s %s %d\n" % (s, v, t))
    return "".join(lines)


def _fmt_sample(s):
    if s is None:
        return "<none>"
    t, v = s
    return "(%d, %s)" % (t, v if isinstance(v, str) else "0x%016x" % v)


def difference(got, want, limit=5):
    """None if equal, else a message naming the series and first differing
    samples. got/want: {labels: [(ts, value)]}."""
    msgs = []
    missing = sorted((sorted(l) for l in set(want) - set(got)))
    extra = sorted((sorted(l) for l in set(got) - set(want)))
    for l in missing[:limit]:
        msgs.append("missing series %s (%d samples expected)" %
                    (h.labels_str(l), len(want[frozenset(l)])))
    for l in extra[:limit]:
        msgs.append("unexpected series %s (%d samples)" % (h.labels_str(l), len(got[frozenset(l)])))
    if len(missing) > limit or len(extra) > limit:
        msgs.append("(%d missing, %d unexpected series in all)" % (len(missing), len(extra)))
    ndiff = 0
    for l in sorted((sorted(l) for l in set(got) & set(want))):
        g, w = got[frozenset(l)], want[frozenset(l)]
        if g == w:
            continue
        ndiff += 1
        if ndiff > limit:
            continue
        i = next((k for k, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
        msgs.append("series %s: first difference at sample #%d: got %s, want %s "
                    "(previous sample %s; %d vs %d samples)" %
                    (h.labels_str(l), i, _fmt_sample(g[i] if i < len(g) else None),
                     _fmt_sample(w[i] if i < len(w) else None),
                     _fmt_sample(w[i - 1] if 0 < i <= len(w) else None), len(g), len(w)))
    if ndiff > limit:
        msgs.append("(%d series differ in all)" % ndiff)
    return "\n".join(msgs) if msgs else None
