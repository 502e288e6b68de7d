"""Generated inputs for the `promblock merge` end-to-end tests (test_merge.py).

Every data set is a pure function of this file and testdata/gen_om.py (fixed
seeds, no clock). OpenMetrics text is turned into blocks by the real promtool
(harness.make_blocks) and cached under $PROMBLOCK_BUILD/e2e-cache/merge-* keyed
by the OpenMetrics content, so only the first run pays for promtool.

Sets (time windows are 2h-aligned, B(k) as in gen_om.py):
  replica_c     B6: third HA replica of the committed replica_a/replica_b pair:
                same 20 series, 15 s scrapes at phase 4.5 s +-200 ms (a: 1 s +-5 ms,
                b: 8 s +-200 ms), starts 2 min late, ends 3 min early, no samples
                in minutes 20-25 and 95-100. Never shares a timestamp with a or b.
  replica_a_gap B6: replica a without minutes 55-65 (b lacks 60-70: neither a nor
                b has minutes 60-65, c has them).
  replica_a/b/c with a replica label in every series (labelled_replica_om):
                the same samples with replica="a"/"b"/"c" added.
  rules_a/b/c   B12: recording-rule-like data: both replicas at the same aligned
                instants with slightly different values (equal timestamps), gaps in
                both (different places), timestamps 0/1 ms apart, series present in
                one replica only.
  disjoint_a/b  B14: the two replicas hold disjoint series (job="x" vs job="y").
  two_blocks    B16-B18: one replica, 4 h -> two consecutive 2h blocks.
  stale partner B8: a second replica for testdata/blocks/stale (same series, phase
                +7 s), made from that block's series labels.
"""

import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402

sys.path.insert(0, h.TESTDATA)
import gen_om  # noqa: E402

W = gen_om.REPLICA_WINDOW
RULES_WINDOW = gen_om.boundary(12)
DISJOINT_WINDOW = gen_om.boundary(14)
TWO_BLOCKS_WINDOW = gen_om.boundary(16)
MIN = 60000

REPLICA_A_GAP = (W + 55 * MIN, W + 65 * MIN)
REPLICA_C_GAPS = ((W + 20 * MIN, W + 25 * MIN), (W + 95 * MIN, W + 100 * MIN))


# ---------------------------------------------------------------- OpenMetrics text

def _replica_text(times, extra_labels=()):
    """The 20 series of gen_om's replica sets sampled at `times` (same truth)."""
    w = gen_om.Writer()
    families = []
    for name, typ, labels in gen_om.REPLICA_SERIES:
        fam = name[:-len("_total")] if typ == "counter" else name
        if fam not in families:
            families.append(fam)
    for fam in families:
        members = [s for s in gen_om.REPLICA_SERIES
                   if (s[0][:-len("_total")] if s[1] == "counter" else s[0]) == fam]
        w.family(fam, members[0][1])
        for name, typ, labels in members:
            truth = gen_om._Truth(name, typ, labels)
            lbls = sorted(labels + gen_om.REPLICA_TARGET + list(extra_labels))
            for t in times:
                w.sample(name, lbls, truth.at(t), t)
    return w.text()


def replica_c_times():
    r = random.Random("promblock-replica-c")
    times = []
    for k in range(480):
        t = W + 4500 + 15000 * k + r.randint(-200, 200)
        if t < W + 2 * MIN or t >= W + 117 * MIN:
            continue
        if any(a <= t < b for a, b in REPLICA_C_GAPS):
            continue
        times.append(t)
    return times


def replica_a_times(gap=None):
    """Replica a's scrape times (as gen_om.gen_replica("a")), minus [gap)."""
    r = random.Random("promblock-replica-a")
    times = [W + 1000 + 15000 * k + r.randint(-5, 5) for k in range(480)]
    if gap:
        times = [t for t in times if not gap[0] <= t < gap[1]]
    return times


def replica_om(which):
    """OpenMetrics text of replica a, b (== the committed sets' sources), c, or
    a_gap (replica a without minutes 55-65, which overlaps b's gap 60-70)."""
    if which in ("a", "b"):
        return gen_om.gen_replica(which)
    if which == "c":
        return _replica_text(replica_c_times())
    if which == "a_gap":
        return _replica_text(replica_a_times(REPLICA_A_GAP))
    raise ValueError(which)


def add_label(om_text, name, value):
    """Adds name="value" to every sample line of OpenMetrics text (every sample of
    the sets here has labels; promtool sorts labels, so the position is free)."""
    out = []
    for line in om_text.splitlines():
        if line.startswith("#") or not line:
            out.append(line)
            continue
        i = line.index("{")
        out.append('%s{%s="%s",%s' % (line[:i], name, gen_om.esc(value), line[i + 1:]))
    return "\n".join(out) + "\n"


def labelled_replica_om(which, label="replica", value=None):
    return add_label(replica_om(which), label, value or which)


def rules_om(which, label=None):
    """Recording-rule-like replica data (see module doc). which: "a", "b" or "c"
    (c has neither of the one-replica series)."""
    S = RULES_WINDOW
    r = random.Random("promblock-rules-" + which)
    w = gen_om.Writer()
    extra = [(label, which)] if label else []

    def lbls(*pairs):
        return sorted(list(pairs) + extra)

    # Both replicas evaluate at the same aligned instants; values differ a little.
    w.family("job:requests:rate5m", "gauge")
    for k in range(120):
        if which == "b" and 30 <= k < 45:
            continue  # b restarted
        if which == "a" and 80 <= k < 90:
            continue  # a restarted
        if which == "c" and (k < 5 or 60 <= k < 70):
            continue  # c started late, restarted
        v = round(10 + 5 * math.sin(k / 7.0), 4)
        if which == "b" and k % 3:
            v = round(v + 0.001 * (k % 5 + 1), 4)
        if which == "c" and k % 2:
            v = round(v - 0.002 * (k % 7 + 1), 4)
        w.sample("job:requests:rate5m", lbls(("job", "api")), v, S + 60000 * k)
    # Same instants, identical values in both replicas.
    w.family("job:errors:ratio", "gauge")
    for k in range(0, 120, 2):
        w.sample("job:errors:ratio", lbls(("job", "api")), round(0.01 * (k % 7), 2),
                 S + 60000 * k + 30000)
    # Scrapes 0 or 1 ms apart between the replicas (ties and lastT + 1 edges).
    w.family("close_samples", "gauge")
    for k in range(400):
        d = {"a": 0, "b": (k % 3) - 1, "c": 1 - (k % 4)}[which]
        if which == "a" and 200 <= k < 210:
            continue
        if which == "c" and 300 <= k < 320:
            continue
        w.sample("close_samples", lbls(("job", "rules")),
                 float(k) + {"a": 0, "b": 0.5, "c": 0.25}[which], S + 5000 + 15000 * k + d)
    # Irregular, sparse samples with big and small gaps.
    w.family("sparse_gauge", "gauge")
    t = S + {"a": 3000, "b": 9000, "c": 5000}[which]
    while t < S + 2 * 3600 * 1000 - 60000:
        w.sample("sparse_gauge", lbls(("job", "rules")), round(r.uniform(0, 100), 3), t)
        t += r.choice((1000, 7000, 15000, 15000, 15000, 60000, 300000)) + r.randint(-200, 200)
    # Samples exactly on the penalty boundary lastT + 1 + penalty (kept: the
    # replica is advanced to the first sample at or after it): the initial
    # 5000 ms, and 2 x the last delta when the other replica runs out.
    if which in ("a", "b"):
        w.family("penalty_edge_initial", "gauge")
        for k in range(60):
            w.sample("penalty_edge_initial", lbls(("job", "rules")), float(k),
                     S + 600000 + 10000 * k + (0 if which == "a" else 5001))
        w.family("penalty_edge_exhausted", "gauge")
        ts = [0, 10000, 20000, 30000] if which == "a" else \
            [45000] + [50001 + 10000 * k for k in range(30)]  # 45000: inside the penalty
        for k, t in enumerate(ts):
            w.sample("penalty_edge_exhausted", lbls(("job", "rules")), float(k), S + 900000 + t)
    # Present in one replica only.
    if which == "a":
        w.family("rule_only_a", "gauge")
        for k in range(200):
            w.sample("rule_only_a", lbls(("job", "rules")), float(k * k), S + 30000 * k + 11)
    elif which == "b":
        w.family("rule_only_b", "counter")
        v = 0
        for k in range(300):
            v += r.randint(0, 9)
            w.sample("rule_only_b_total", lbls(("job", "rules")), v, S + 20000 * k + 17)
    return w.text()


def disjoint_om(which, label=None):
    """Replica a holds job="x" series, b holds job="y" series (same window)."""
    S = DISJOINT_WINDOW
    r = random.Random("promblock-disjoint-" + which)
    job = "x" if which == "a" else "y"
    phase = 2000 if which == "a" else 9000
    w = gen_om.Writer()
    w.family("disjoint_metric", "gauge")
    for i in range(5):
        labels = [("i", str(i)), ("instance", "h%d:9100" % i), ("job", job)]
        if label:
            labels.append((label, which))
        for k in range(400):
            t = S + phase + 15000 * k + r.randint(-200, 200)
            w.sample("disjoint_metric", sorted(labels), round(r.gauss(50, 10), 2), t)
    return w.text()


def two_blocks_om():
    """One replica, 4 h of 15 s samples of 6 series -> two 2h blocks."""
    S = TWO_BLOCKS_WINDOW
    r = random.Random("promblock-two-blocks")
    w = gen_om.Writer()
    w.family("tb_requests", "counter")
    for i in range(6):
        v = 0
        for k in range(4 * 240 - 2):
            v += r.randint(0, 20)
            w.sample("tb_requests_total", [("instance", "h%d" % i), ("job", "tb")], v,
                     S + 3000 + 15000 * k + r.randint(-100, 100))
    return w.text()


def stale_partner_om(stale_block):
    """A second replica for the committed stale block: its series labels, 15 s
    scrapes at phase +7 s +-200 ms, from its minTime to just before its maxTime,
    with a 10 minute gap."""
    meta = h.read_meta(stale_block)
    labelsets = [lbls for lbls, _ in h.read_block(stale_block).series]
    r = random.Random("promblock-stale-partner")
    lines = []
    for lbls in labelsets:
        d = dict(lbls)
        name = d.pop("__name__")
        pairs = sorted(d.items())
        t = meta["minTime"] + 7000
        k = 0
        while t + 200 < meta["maxTime"]:
            ts = t + r.randint(-200, 200)
            if not (meta["minTime"] + 50 * MIN <= ts < meta["minTime"] + 60 * MIN):
                lines.append("%s %s %s" % (gen_om.series_str(name, pairs),
                                           gen_om.fmt_val(float(1000 + k)), gen_om.fmt_ts(ts)))
            t += 15000
            k += 1
    return "\n".join(lines + ["# EOF"]) + "\n"


def samples_om(samples):
    """OpenMetrics text for {frozenset(labels): [(ts_ms, value string as promtool
    dump prints it)]} (no TYPE lines: every name is an 'unknown' family)."""
    lines = []
    for lbls in sorted(samples, key=lambda l: sorted(l)):
        d = dict(lbls)
        name = d.pop("__name__")
        s = gen_om.series_str(name, sorted(d.items()))
        for t, v in samples[lbls]:
            if not isinstance(v, str):
                v = h.go_format_g(h.bits_to_float(v))
            if v == "NaN":
                raise ValueError("NaN cannot go through OpenMetrics exactly")
            lines.append("%s %s %s" % (s, v, gen_om.fmt_ts(t)))
    return "\n".join(lines + ["# EOF"]) + "\n"


# ---------------------------------------------------------------- blocks (cached)



def blocks_from_om(name, om_text):
    """The source dir of blocks promtool makes from om_text, cached by content."""
    return h.cached_blocks_from_om("merge-" + name, om_text)


def with_external_labels(source, labels, parent):
    """Copies the blocks of source into a new dir under parent and gives each a
    Thanos section with these external labels (as a Thanos sidecar would).
    Returns the new source dir."""
    dst = tempfile.mkdtemp(prefix="ext-", dir=parent)
    for b in h.block_dirs(source):
        nb = h.copy_block(b, dst)
        meta = h.read_meta(nb)
        meta["thanos"] = {"labels": dict(labels), "downsample": {"resolution": 0},
                          "source": "sidecar"}
        with open(os.path.join(nb, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent="\t")
            f.write("\n")
    return dst
