"""Generated inputs and reference computations for the `promblock compact`
end-to-end tests (test_compact.py).

Data (a pure function of this file: fixed seeds, no clock). Two HA replicas of
one scrape target, 12 consecutive epoch-aligned 2h windows W0..W11 starting at
T0 = 2023-11-22T08:00Z, which is 16 h before a 14d (hence also 2d and 8h)
boundary, so that W0-W3 and W4-W7 fill the 8h windows of one 2d window, and
W8-W11 the first 8h window of the next 2d/14d window (under the planner's
rule, see HIGH_TIME_RULE, W0-W7 become one 2d block and W8-W11 stay 2h blocks
until a later window arrives):
  - 10 series (4 counters, 3 gauges, 3 gauges of another family), 60 s scrapes;
  - replica a: phase 30 s, +-5 ms jitter, no gaps;
  - replica b: phase 12 s (so b is the earlier replica at the start of every
    window and the penalty dedup follows b), +-200 ms jitter, and a 10-minute
    gap (minutes 40-50 of W5), where the penalty dedup switches to a for the
    rest of that window.
Both replicas read the same "truth" (a function of time), at their own times.
promtool turns each replica's OpenMetrics into exactly 12 blocks, one per
window (checked); they are cached under $PROMBLOCK_BUILD/e2e-cache/compact-*.

Reference computations (independent of the C++ code, written from the
contract in promblock-compact(1), with Prometheus's high-time rule):
  plan(...)         the compaction planner: catalog filtering (marks,
                    "represented" source blocks), groups, vertical clusters,
                    leveled selection; returns the jobs and the final layout.
  expected samples  per vertical cluster (= per 2h window here): penalty_ref
                    over the cluster's blocks; leveled compaction (chain) of
                    non-overlapping blocks only concatenates them.
"""

import hashlib
import json
import math
import os
import random
import shutil
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import penalty_ref as ref  # noqa: E402

sys.path.insert(0, h.TESTDATA)
import gen_om  # noqa: E402

MIN = 60000
HOUR = 60 * MIN
WINDOW = 2 * HOUR
N_WINDOWS = 12
D14 = 1700697600000                 # 2023-11-23T00:00Z: a multiple of 14d (and 2d, 8h)
T0 = D14 - 16 * HOUR                 # 2023-11-22T08:00Z
T_END = T0 + N_WINDOWS * WINDOW
assert T0 % WINDOW == 0 and D14 % (14 * 24 * HOUR) == 0

DEFAULT_RANGES = (2 * HOUR, 8 * HOUR, 48 * HOUR, 14 * 24 * HOUR)

# The leveled planner's "high time": a window's blocks that don't span the
# whole range are merged when they end at or before it. "remaining" (the rule
# of tsdb/compact/planner.cpp): the minTime of the newest block *remaining*
# after the newest block was left out -- Prometheus's tsdb/compact.go
# (plan() drops the newest, selectDirs takes highTime := ds[len(ds)-1].MinTime;
# Thanos's tsdbBasedPlanner does the same), which never merges the window
# holding the second-newest block before that window is full. "newest": the
# minTime of the newest block, the one left out (the original contract's rule,
# no longer implemented; kept to compare).
HIGH_TIME_RULE = "remaining"

PHASE_A, JITTER_A = 30000, 5
PHASE_B, JITTER_B = 12000, 200
B_GAP = (T0 + 5 * WINDOW + 40 * MIN, T0 + 5 * WINDOW + 50 * MIN)

METRIC_PREFIX = "cmp_"
SELECTOR = '{__name__=~"cmp_.+"}'

TARGET = [("job", "node"), ("instance", "host-1:9100")]
SERIES = (
    [("cmp_requests_total", "counter", [("code", c), ("method", m)])
     for c, m in (("200", "GET"), ("200", "POST"), ("500", "GET"), ("404", "GET"))] +
    [("cmp_temperature_celsius", "gauge", [("sensor", s)]) for s in ("cpu", "board", "disk")] +
    [("cmp_queue_depth", "gauge", [("queue", q)]) for q in ("ingest", "compact", "upload")]
)


def window(k):
    """[start, end) of window k."""
    return T0 + k * WINDOW, T0 + (k + 1) * WINDOW


# ---------------------------------------------------------------- OpenMetrics text

def _truth(name, labels, t):
    """The scraped target's value of a series at time t (ms): both replicas
    read this, at their own times."""
    seed = int(hashlib.sha256(repr((name, labels)).encode()).hexdigest()[:8], 16)
    x = (t - T0) / 1000.0
    if name.endswith("_total"):
        rate = 1 + seed % 17
        return float(int(rate * x + 3 * math.sin(x / 900.0 + seed % 7) + 3 + seed % 1000))
    amp = 2 + seed % 9
    base = (seed % 50) - 10
    return round(base + amp * math.sin(x / (1800.0 + seed % 600)) + 0.25 * math.cos(x / 97.0), 3)


def replica_times(which):
    if which == "a":
        r, phase, jit = random.Random("promblock-compact-a"), PHASE_A, JITTER_A
    elif which == "b":
        r, phase, jit = random.Random("promblock-compact-b"), PHASE_B, JITTER_B
    else:
        raise ValueError(which)
    times = []
    for k in range(N_WINDOWS * WINDOW // MIN):
        t = T0 + phase + MIN * k + r.randint(-jit, jit)
        if which == "b" and B_GAP[0] <= t < B_GAP[1]:
            continue
        times.append(t)
    return times


def replica_om(which):
    times = replica_times(which)
    w = gen_om.Writer()
    families = []
    for name, typ, _ in SERIES:
        fam = name[:-len("_total")] if typ == "counter" else name
        if (fam, typ) not in families:
            families.append((fam, typ))
    for fam, typ in families:
        w.family(fam, typ)
        for name, t2, labels in SERIES:
            if (name[:-len("_total")] if t2 == "counter" else name) != fam:
                continue
            lbls = sorted(labels + TARGET)
            for t in times:
                w.sample(name, lbls, _truth(name, lbls, t), t)
    return w.text()


# ---------------------------------------------------------------- blocks (cached)



def blocks_from_om(name, om_text):
    """The dir of blocks promtool makes from om_text, cached by content."""
    return h.cached_blocks_from_om("compact-" + name, om_text)


def window_blocks(source):
    """The blocks of a replica source, one per window W0..W11 (checked)."""
    blocks = sorted(h.block_dirs(source), key=lambda b: h.read_meta(b)["minTime"])
    if len(blocks) != N_WINDOWS:
        raise AssertionError("%s: %d blocks, want %d" % (source, len(blocks), N_WINDOWS))
    for k, b in enumerate(blocks):
        m = h.read_meta(b)
        lo, hi = window(k)
        if not (lo <= m["minTime"] < m["maxTime"] <= hi):
            raise AssertionError("%s: [%d, %d) is not inside window %d [%d, %d)" %
                                 (b, m["minTime"], m["maxTime"], k, lo, hi))
    return blocks


def replica_sources():
    """(dir of replica a's 12 blocks, dir of replica b's) -- the shared cache:
    copy before handing them to an in-place run."""
    a = blocks_from_om("replica_a", replica_om("a"))
    b = blocks_from_om("replica_b", replica_om("b"))
    window_blocks(a)
    window_blocks(b)
    return a, b


# ---------------------------------------------------------------- ULIDs, clones, marks

_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def make_ulid(ms, rng):
    v = (ms << 80) | rng.getrandbits(80)
    return "".join(_B32[(v >> (5 * i)) & 31] for i in range(25, -1, -1))


def ulid_time_ms(u):
    v = 0
    for ch in u:
        v = v * 32 + _B32.index(ch)
    return v >> 80


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def clone_block(block, parent, rng, thanos_labels=None):
    """A copy of a level-1 block under a NEW ULID (same ULID time) in parent,
    with meta.json's ulid and compaction.sources updated and, if given, a
    Thanos section with these external labels. Returns the new dir."""
    meta = h.read_meta(block)
    new = make_ulid(ulid_time_ms(meta["ulid"]), rng)
    dst = os.path.join(parent, new)
    shutil.copytree(block, dst)
    meta["ulid"] = new
    meta["compaction"] = {"level": 1, "sources": [new]}
    if thanos_labels is not None:
        meta["thanos"] = {"labels": dict(thanos_labels), "downsample": {"resolution": 0},
                          "source": "sidecar"}
    write_json(os.path.join(dst, "meta.json"), meta)
    return dst


def sidecar_bucket(parent, clusters, n_windows, seed):
    """A bucket directory as Thanos sidecars lay one out: for each cluster,
    replicas a and b, windows W0..W(n-1), each block with a Thanos section
    {cluster, replica}."""
    wa, wb = (window_blocks(s) for s in replica_sources())
    rng = random.Random(seed)
    os.makedirs(parent)
    for cl in clusters:
        for rep, src in (("a", wa), ("b", wb)):
            for k in range(n_windows):
                clone_block(src[k], parent, rng, {"cluster": cl, "replica": rep})
    return parent


def write_deletion_mark(block, deletion_time_s, details="marked by test"):
    write_json(os.path.join(block, "deletion-mark.json"),
               {"id": os.path.basename(block), "version": 1, "details": details,
                "deletion_time": int(deletion_time_s)})


def write_no_compact_mark(block, now_s, reason="manual"):
    write_json(os.path.join(block, "no-compact-mark.json"),
               {"id": os.path.basename(block), "version": 1, "details": "marked by test",
                "no_compact_time": int(now_s), "reason": reason})


# ---------------------------------------------------------------- reference planner

def fmt_range(ms):
    """Prometheus's model.Duration text (2h, 8h, 2d, 2w) -- the "<range>" in
    "compact <range>"."""
    out, left = "", ms
    for unit, size, exact in (("y", 365 * 24 * HOUR, True), ("w", 7 * 24 * HOUR, True),
                              ("d", 24 * HOUR, False), ("h", HOUR, False), ("m", MIN, False),
                              ("s", 1000, False), ("ms", 1, False)):
        if exact and left % size:
            continue
        if left >= size:
            out += "%d%s" % (left // size, unit)
            left %= size
    return out or "0s"


class PB:
    """A block as the planner sees it (meta.json facts only)."""

    def __init__(self, id, min, max, sources, level=1, in_out=False, group=(), path=None):
        self.id, self.min, self.max = id, min, max
        self.sources = frozenset(sources)
        self.level, self.in_out, self.group, self.path = level, in_out, tuple(group), path

    def __repr__(self):
        return "PB(%s [%d,%d) L%d %s%s)" % (self.id, self.min, self.max, self.level,
                                            "out" if self.in_out else "src", dict(self.group))

    @classmethod
    def from_dir(cls, path, in_out, replica_labels=()):
        m = h.read_meta(path)
        ext = dict((m.get("thanos") or {}).get("labels") or {})
        for l in replica_labels:
            ext.pop(l, None)
        return cls(m["ulid"], m["minTime"], m["maxTime"],
                   m["compaction"].get("sources") or [m["ulid"]],
                   m["compaction"].get("level", 1), in_out, sorted(ext.items()), path)


def has_mark(path, name):
    return os.path.isfile(os.path.join(path, name))


def catalog(source_dirs, out_dir, replica_labels=()):
    """The planner's input per the contract: complete blocks of every source
    and of out_dir, without deletion-marked blocks, without no-compact-marked
    blocks, without source blocks already represented in out_dir -- their
    sources all listed by blocks of out_dir that are NOT deletion-marked (a
    no-compact-marked --out block still holds its data, a deletion-marked one
    does not count). (No consistency delay: the tests pass
    --consistency-delay 0s; no retention.)"""
    out, represented = [], set()
    if out_dir and os.path.isdir(out_dir):
        for b in h.block_dirs(out_dir):
            if has_mark(b, "deletion-mark.json"):
                continue
            pb = PB.from_dir(b, True, replica_labels)
            represented |= pb.sources
            if not has_mark(b, "no-compact-mark.json"):
                out.append(pb)
    src = []
    in_place = out_dir is not None and os.path.exists(out_dir) and \
        any(os.path.samefile(s, out_dir) for s in source_dirs)
    if not in_place:
        for s in source_dirs:
            for b in h.block_dirs(s):
                if has_mark(b, "deletion-mark.json") or has_mark(b, "no-compact-mark.json"):
                    continue
                pb = PB.from_dir(b, False, replica_labels)
                if pb.sources <= represented:
                    continue  # represented
                src.append(pb)
    return src + out


class Job:
    def __init__(self, index, group, inputs, reason, level):
        self.index = index          # 1-based
        self.group = group
        self.inputs = inputs        # [PB or Job]
        self.reason = reason
        self.min = min(i.min for i in inputs)
        self.max = max(i.max for i in inputs)
        self.sources = frozenset().union(*(i.sources for i in inputs))
        self.level = level
        self.in_out = True
        self.id = "job:%d" % index

    def input_ids(self):
        return [i.id for i in self.inputs]

    def __repr__(self):
        return "Job(%d %s %s [%d,%d))" % (self.index, self.reason, self.input_ids(),
                                          self.min, self.max)


def _split_by_range(nodes, rng):
    parts, i = [], 0
    while i < len(nodes):
        t0 = (nodes[i].min // rng) * rng          # floor, also before the epoch
        if nodes[i].max > t0 + rng:
            i += 1
            continue
        part = []
        while i < len(nodes) and nodes[i].max <= t0 + rng:
            part.append(nodes[i])
            i += 1
        parts.append(part)
    return parts


def plan(blocks, ranges=DEFAULT_RANGES):
    """Jobs (in execution order: per group, vertical jobs by time, then leveled
    jobs in selection order) and the final layout (blocks left in --out, as PB
    or Job) for the catalog `blocks`."""
    jobs, final = [], []
    groups = {}
    for b in blocks:
        groups.setdefault(b.group, []).append(b)
    for group in sorted(groups):
        nodes = sorted(groups[group], key=lambda b: b.min)
        live = []
        i = 0
        while i < len(nodes):  # 1. vertical clusters
            cluster = [nodes[i]]
            cmax = nodes[i].max
            i += 1
            while i < len(nodes) and nodes[i].min < cmax:
                cluster.append(nodes[i])
                cmax = max(cmax, nodes[i].max)
                i += 1
            if len(cluster) > 1 or not cluster[0].in_out:
                j = Job(len(jobs) + 1, group, cluster, "vertical" if len(cluster) > 1 else "copy",
                        max(c.level for c in cluster) + 1)
                jobs.append(j)
                live.append(j)
            else:
                live.append(cluster[0])
        while True:  # 2. leveled
            live.sort(key=lambda b: b.min)
            if len(live) < 2:
                break
            newest = live[-1]
            cand = live[:-1]
            if HIGH_TIME_RULE == "remaining":
                high = cand[-1].min
            elif HIGH_TIME_RULE == "newest":
                high = newest.min
            else:
                raise ValueError("HIGH_TIME_RULE %r" % HIGH_TIME_RULE)
            selected = None
            for rng in ranges[1:]:
                for part in _split_by_range(cand, rng):
                    if len(part) > 1 and (part[-1].max - part[0].min == rng or
                                          part[-1].max <= high):
                        selected = (part, rng)
                        break
                if selected:
                    break
            if not selected:
                break
            part, rng = selected
            j = Job(len(jobs) + 1, group, part, "compact " + fmt_range(rng),
                    max(p.level for p in part) + 1)
            jobs.append(j)
            live = [b for b in live if all(b is not p for p in part)] + [j]
        final.extend(live)
    return collapse_levels(jobs), final


MAX_ONE_PASS_INPUTS = 48


def collapse_levels(jobs):
    """A leveled job built on jobs of the same run (leveled, vertical or copy)
    takes their inputs (at most MAX_ONE_PASS_INPUTS), and they go: one pass,
    the same samples, as a vertical job's inputs still dedup together and
    apart from the rest (a cluster each; see penalty_windows). Jobs keep
    their order and are renumbered; levels follow the new inputs."""
    absorbed = set()
    for j in jobs:
        if j.reason in ("vertical", "copy"):
            continue
        flat = []
        for i in j.inputs:
            flat.extend(i.inputs if isinstance(i, Job) else [i])
        if not any(isinstance(i, Job) for i in j.inputs) or len(flat) > MAX_ONE_PASS_INPUTS:
            continue
        absorbed.update(id(i) for i in j.inputs if isinstance(i, Job))
        j.inputs = flat
        j.level = max(i.level for i in flat) + 1
    kept = [j for j in jobs if id(j) not in absorbed]
    for n, j in enumerate(kept, 1):
        j.index = n
        j.id = "job:%d" % n
    return kept


def layout_key(b):
    """What identifies a block of the final layout: time range, sources, group."""
    return (b.min, b.max, tuple(sorted(b.sources)), tuple(b.group))


def out_layout(out_dir, replica_labels=()):
    """Live (not deletion-marked) blocks of out_dir as a sorted list of layout keys."""
    return sorted(layout_key(PB.from_dir(b, True, replica_labels))
                  for b in h.block_dirs(out_dir) if not has_mark(b, "deletion-mark.json"))


# ---------------------------------------------------------------- reference samples

def penalty_windows(pairs, mode="penalty"):
    """pairs: [[block, ...] per vertical cluster] (replicas in order). The
    merged samples of every cluster, as exact bits: {labels: [(ts, bits)]}."""
    out = {}
    for blocks in pairs:
        if len(blocks) == 1:
            res = {l: list(s) for l, s in h.read_block(blocks[0]).samples().items() if s}
        else:
            res = ref.reference(blocks, (), mode, values="bits")
        for lbls, s in res.items():
            out.setdefault(lbls, []).extend(s)
    for s in out.values():
        s.sort(key=lambda x: x[0])
        for x, y in zip(s, s[1:]):
            if x[0] >= y[0]:
                raise AssertionError("clusters overlap at %d" % y[0])
    return out


def restrict(samples, lo, hi):
    """{labels: samples with lo <= ts < hi} (series without samples left out)."""
    out = {}
    for lbls, s in samples.items():
        keep = [x for x in s if lo <= x[0] < hi]
        if keep:
            out[lbls] = keep
    return out


def count_samples(samples):
    return sum(len(s) for s in samples.values())


# ---------------------------------------------------------------- self-check

def _self_check():
    """Checks the data and the reference planner on their own (no promblock):
    python3 compact_data.py"""
    a, b = replica_sources()
    wa, wb = window_blocks(a), window_blocks(b)
    per_window = penalty_windows([[x, y] for x, y in zip(wa, wb)])
    whole = ref.reference([a, b], (), "penalty", values="bits")
    chain = ref.reference([a, b], (), "chain", values="bits")
    ra = h.block_samples(wa)
    rb = h.block_samples(wb)
    print("series: %d; samples a %d, b %d, penalty per window %d, whole-period penalty %d, "
          "chain %d" % (len(per_window), count_samples(ra), count_samples(rb),
                        count_samples(per_window), count_samples(whole), count_samples(chain)))
    assert len(per_window) == len(SERIES)
    ndiff = sum(1 for l in per_window if per_window[l] != whole.get(l))
    print("series where per-window penalty != whole-period penalty: %d" % ndiff)
    # Where does the per-window result come from? b everywhere (after a's first
    # sample, which comes more than the initial 5 s penalty after b's first), but
    # a after b's gap in W5.
    tb = {t for s in rb.values() for t, _ in s}
    ta = {t for s in ra.values() for t, _ in s}
    for k in range(N_WINDOWS):
        lo, hi = window(k)
        ts = [t for t, _ in next(iter(per_window.values())) if lo <= t < hi]
        na = sum(1 for t in ts if t in ta)
        nb = sum(1 for t in ts if t in tb)
        print("W%-2d samples/series %d: from a %d, from b %d" % (k, len(ts), na, nb))
        assert na + nb == len(ts)
        if k == 5:
            assert na > 1 and nb > 1
        else:
            assert na == 1
    # Reference plan of the main scenario.
    blocks = catalog([a, b], None)
    jobs, final = plan(blocks)
    for j in jobs:
        print("job %2d %-10s L%d [%s, %s) %s" % (j.index, j.reason, j.level, j.min - T0,
                                                j.max - T0, j.input_ids() if j.reason.startswith(
                                                    "compact") else len(j.inputs)))
    print("final:", [(x.id, (x.min - T0) // HOUR, -(-(x.max - T0) // HOUR), x.level)
                     for x in final])
    # W0..W7's 2d level takes their 16 source blocks in one pass (a cluster
    # per window); W8..W11 get vertical jobs.
    assert [j.reason for j in jobs] == ["vertical"] * 4 + ["compact 2d"]
    assert len(jobs[-1].inputs) == 16
    assert [x.level for x in final] == [2, 2, 2, 2, 2]
    # Prometheus's rule (high time = the newest *remaining* block's minTime,
    # here W10's) leaves W8..W10 alone: their 8h window is not full and W10
    # ends after W10 starts. The old rule (the newest block's minTime) would
    # have compacted them.
    assert fmt_range(14 * 24 * HOUR) == "2w" and fmt_range(2 * 24 * HOUR) == "2d"
    print("ok")


if __name__ == "__main__":
    _self_check()
