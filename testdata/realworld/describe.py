#!/usr/bin/env python3
"""Writes testdata/realworld/README.md from the committed blocks and events.json.

Usage: describe.py DIR        (DIR = testdata/realworld; make_fixtures.sh calls it)

Reads the blocks with `promtool tsdb dump` / `promtool tsdb analyze` on temporary
copies (promtool needs a wal/ dir and writes chunks_head/ into the data dir; the
committed dirs are never touched), and -- where tests/e2e/harness.py is importable --
with its independent block reader, for the exact bits of NaN samples (promtool dump
prints a stale marker and any other NaN alike as "NaN").
"""

import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
STALE_BITS = 0x7FF0000000000002
LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def hms(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%H:%M:%S.") + "%03d" % (ms % 1000)


def labels(series):
    return dict(LABEL_RE.findall(series))


def blocks_of(d):
    out = []
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if ULID_RE.fullmatch(n) and os.path.isfile(os.path.join(p, "meta.json")):
            with open(os.path.join(p, "meta.json")) as f:
                meta = json.load(f)
            size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(p) for f in fs)
            out.append((n, meta, p, size))
    return sorted(out, key=lambda b: b[1]["minTime"])


def promtool(args):
    return subprocess.run(["promtool"] + args, check=True, capture_output=True,
                          text=True, timeout=600).stdout


def dump_and_analyze(blocks, tmp, name):
    """promtool dump of all blocks of one replica, and analyze of each block."""
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "wal"))
    for ulid, _, path, _ in blocks:
        shutil.copytree(path, os.path.join(d, ulid))
    dump = collections.defaultdict(list)
    for line in promtool(["tsdb", "dump", d]).splitlines():
        if line:
            s, v, t = line.rsplit(" ", 2)
            dump[s].append((int(t), v))
    analyzed = {}
    for ulid, _, _, _ in blocks:
        text = promtool(["tsdb", "analyze", d, ulid])
        m = re.search(r"^Series: (\d+)$", text, re.M)
        analyzed[ulid] = int(m.group(1)) if m else None
    return dump, analyzed


def exact_nans(blocks):
    """Reads the blocks with harness's reader: ({bits: count} of NaN samples,
    {(series string as promtool prints it, ts): bits} of NaN samples), or
    (None, None) where harness is not importable."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "tests", "e2e"))
    try:
        import harness  # noqa: E402
    except Exception:  # pragma: no cover
        return None, None
    counts, where = collections.Counter(), {}
    for _, _, path, _ in blocks:
        for lbls, chunks in harness.read_block(path).series:
            key = harness.labels_str(lbls)
            for c in chunks:
                if c.encoding != 1:
                    counts["encoding %d chunk" % c.encoding] += 1
                    continue
                for t, bits in c.samples():
                    if (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1):
                        counts["0x%016x" % bits] += 1
                        where[(key, t)] = bits
    return counts, where


def series_in(dump, mint, maxt):
    return {s for s, samples in dump.items() if any(mint <= t < maxt for t, _ in samples)}


def group_key(s, names):
    l = labels(s)
    inst = l.get("instance", "")
    return (l.get("job", "(no job)"), names.get(inst, inst) if inst else "(no instance)")


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    top = os.path.abspath(argv[0])
    with open(os.path.join(top, "events.json")) as f:
        ev = json.load(f)
    W = ev["block_range_ms"]
    A, B, N = ev["addr_a"], ev["addr_b"], ev["addr_node"]
    names = {A: "a", B: "b", N: "node"}
    rn = {"a": "replica_a", "b": "replica_b"}
    blocks = {r: blocks_of(os.path.join(top, rn[r])) for r in "ab"}
    tmp = tempfile.mkdtemp(prefix="promblock-describe-")
    try:
        dumps, analyzed = {}, {}
        for r in "ab":
            dumps[r], analyzed[r] = dump_and_analyze(blocks[r], tmp, r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bits, nanbits = {}, {}
    for r in "ab":
        bits[r], nanbits[r] = exact_nans(blocks[r])

    def kind(r, s, t):
        """'stale', 'NaN' (an ordinary NaN value) or 'NaN?' (bits unknown)."""
        if nanbits[r] is None:
            return "NaN?"
        b = nanbits[r].get((s, t))
        if b is None:
            raise SystemExit("promtool printed NaN at %s %d but the reader saw no NaN" % (s, t))
        return "stale" if b == STALE_BITS else "NaN"

    def stale(r, s, t, v):
        return v == "NaN" and kind(r, s, t) != "NaN"

    o = []
    w = o.append
    w("# Real-world HA pair: blocks written by two Prometheus 2.42 servers\n")
    w("Generated by `describe.py` (do not edit by hand); made by `make_fixtures.sh`.\n")
    w("Two real Prometheus 2.42 servers (Debian `prometheus` 2.42.0+ds) ran as an HA pair on")
    w("127.0.0.1 for about 10 minutes with 2-minute blocks")
    w("(`--storage.tsdb.min-block-duration=2m --storage.tsdb.max-block-duration=2m`),")
    w("scrape interval 5 s, identical scrape configs except the `replica` external label")
    w("and the target of job `self`. Both scrape both servers (job `prometheus`) and one")
    w("node exporter 1.5.0 (job `node`; only the cpu, loadavg, meminfo and time collectors),")
    w("and evaluate two recording rules every 10 s. Replica b started 2.5 s after a, was")
    w("stopped for about 2 minutes (a gap), and the node exporter was stopped for about")
    w("1 minute (stale markers in both replicas).")
    w("The blocks are the head compactions of both servers for the same 2-minute windows,")
    w("copied unchanged (`meta.json`, `index`, `chunks/000001`, `tombstones`).\n")
    w("| path | what |")
    w("|---|---|")
    w("| `replica_a/`, `replica_b/` | the blocks of replica a and b (one block per window, same windows) |")
    w("| `events.json` | ports and ms timestamps of every step of the run |")
    w("| `config/` | the two Prometheus configs and the rules file as run (ports and the temporary rules path are that run's) |")
    w("| `make_fixtures.sh` | the script that made all this: `testdata/realworld/make_fixtures.sh` (about 10 min; needs prometheus, promtool, prometheus-node-exporter, python3, curl) |")
    w("| `describe.py` | writes this README from the blocks and `events.json` |\n")
    w("Addresses in the data: replica a = `%s`, replica b = `%s`, node exporter = `%s`." % (A, B, N))
    w("Below, `instance` values are shown as `a`, `b`, `node`.\n")

    w("## Timeline (ms since the Unix epoch, UTC)\n")
    w("| event | ms | UTC |")
    w("|---|---|---|")
    for k, what in [("node_start", "node exporter started"), ("a_start", "replica a started"),
                     ("b_start", "replica b started"), ("b_stop_sent", "replica b: SIGTERM"),
                     ("b_stopped", "replica b exited"), ("b_restart", "replica b started again"),
                     ("b_ready", "replica b ready again"), ("node_kill", "node exporter: SIGTERM"),
                     ("node_restart", "node exporter started again"),
                     ("servers_stop", "both servers stopped (SIGTERM)")]:
        w("| %s | %d | %s |" % (what, ev[k], iso(ev[k])))
    w("")

    w("## Blocks\n")
    w("`maxTime` is exclusive. Each window is `[k*120000, (k+1)*120000)` ms; a head")
    w("compaction's block usually starts at the head's first sample (so the first block of a")
    w("server is shorter; but see the gap below) and ends at the window boundary, not at last")
    w("sample + 1 as promtool's blocks do.")
    w("`series (analyze)` is what `promtool tsdb analyze` reports; it matches meta.json.")
    w("`first`/`last`: the block's first and last sample, as ms after minTime / before maxTime.\n")
    w("| replica | ULID | minTime | maxTime | UTC | first | last | series | series (analyze) | samples | chunks | bytes |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in "ab":
        for ulid, meta, _, size in blocks[r]:
            st = meta["stats"]
            mn, mx = meta["minTime"], meta["maxTime"]
            inb = [t for ss in dumps[r].values() for t, _ in ss if mn <= t < mx]
            w("| %s | `%s` | %d | %d | %s–%s | +%d | -%d | %d | %s | %d | %d | %d |" % (
                r, ulid, mn, mx, hms(mn), hms(mx), min(inb) - mn, mx - max(inb),
                st["numSeries"], analyzed[r][ulid], st["numSamples"], st["numChunks"], size))
    total = sum(b[3] for r in "ab" for b in blocks[r])
    w("\nTotal %d bytes. Level 1 head compactions; no `thanos` section in meta.json%s.\n" % (
        total, "" if not any("thanos" in b[1] for r in "ab" for b in blocks[r]) else " (but some have one!)"))
    ext = [s for r in "ab" for s in dumps[r] if "replica" in labels(s) or "cluster" in labels(s)]
    w("External labels (`cluster`, `replica`) are in no series (%d series carry one) and in no" % len(ext))
    w("meta.json: Prometheus keeps them for federation, remote write and alerts only. So these")
    w("blocks carry no replica label at all -- the \"each source is its own replica\" case.\n")

    # Windows and what happened in them.
    wins = sorted({b[1]["maxTime"] for b in blocks["a"]})
    w("## Windows\n")
    w("| window end (maxTime) | UTC | what happened |")
    w("|---|---|---|")
    for t in wins:
        notes = []
        lo = t - W
        if lo < ev["b_stop_sent"] < t or lo < ev["b_restart"] < t or (ev["b_stop_sent"] <= lo and t <= ev["b_restart"]):
            notes.append("replica b down from %s to %s (gap)" % (hms(ev["b_stop_sent"]), hms(ev["b_ready"])))
        if lo < ev["node_kill"] < t or lo < ev["node_restart"] < t:
            notes.append("node exporter down from %s to %s" % (hms(ev["node_kill"]), hms(ev["node_restart"])))
        if t == wins[0]:
            notes.append("first common window")
        w("| %d | %s | %s |" % (t, hms(t), "; ".join(notes) or "steady"))
    w("")

    def ser(r, name, **want):
        for s, samples in dumps[r].items():
            l = labels(s)
            if l.get("__name__") == name and all(l.get(k) == v for k, v in want.items()):
                return s, samples
        return None, []

    # Gap facts.
    w("## The gap in replica b\n")
    w("\"stale\" below means the exact bits 0x7ff0000000000002 (Prometheus's StaleNaN), read")
    w("with tests/e2e/harness.py's block reader; `promtool tsdb dump` prints it as `NaN`, like")
    w("any other NaN.\n")
    allts_b = sorted({t for ss in dumps["b"].values() for t, _ in ss})
    g, gap_lo, gap_hi = max((allts_b[i + 1] - allts_b[i], allts_b[i], allts_b[i + 1]) for i in range(len(allts_b) - 1))
    w("- Replica b has no sample at all between %d (%s, its last before the SIGTERM at %s) and" % (gap_lo, hms(gap_lo), hms(ev["b_stop_sent"])))
    w("  %d (%s, its first after the restart at %s): %.3f s." % (gap_hi, hms(gap_hi), hms(ev["b_restart"]), g / 1000))
    gb = [b2 for b2 in blocks["b"] if b2[1]["minTime"] > gap_lo and b2[1]["minTime"] < gap_hi]
    for ulid, meta, _, _ in gb:
        w("- Block `%s` of replica b has minTime %d (%s), %d ms before its first sample %d." % (
            ulid, meta["minTime"], hms(meta["minTime"]), gap_hi - meta["minTime"], gap_hi))
        w("  A head-compacted block's minTime is the head's minTime; after a truncation whose")
        w("  bound lies below the head's actual minimum, Prometheus (`Head.truncateMemory`) sets it")
        w("  to min(actual minimum, start of the appendable window = head maxTime - range/2): here")
        w("  the first sample after the restart minus 60 s. So minTime need not be a sample time,")
        w("  even for head blocks, and can lie inside a gap.")
    sb_stale = collections.Counter(t for s2, ss in dumps["b"].items() for t, v in ss
                                   if stale("b", s2, t, v) and gap_lo - 10000 <= t <= gap_hi + 10000)
    w("- Stale markers written by replica b around its own shutdown and restart: %s." % (
        "none (Prometheus 2.42 writes no end-of-run stale markers when it shuts down, and none"
        " for the gap when it starts again)" if not sb_stale
        else ", ".join("%d: %d series" % kv for kv in sorted(sb_stale.items()))))
    s, sa = ser("a", "up", job="prometheus", instance=B)
    zeros = [t for t, v in sa if v == "0"]
    if zeros:
        w("- Replica a kept scraping b: `up{job=\"prometheus\",instance=\"b\"}` is 0 in %d samples, from %d (%s) to %d (%s)." % (
            len(zeros), zeros[0], hms(zeros[0]), zeros[-1], hms(zeros[-1])))
        st = collections.Counter()
        nb = 0
        for s2, ss in dumps["a"].items():
            l = labels(s2)
            if l.get("instance") == B and l.get("job") == "prometheus":
                nb += 1
                for t, v in ss:
                    if stale("a", s2, t, v) and zeros[0] - 6000 <= t <= zeros[-1] + 6000:
                        st[t] += 1
        w("  Replica a wrote stale markers into %s of its %d `job=\"prometheus\",instance=\"b\"` series" % (
            " and ".join("%d (at %d, %s)" % (c, t, hms(t)) for t, c in sorted(st.items())) or "none", nb))
        w("  -- every scraped series of b, not the 5 synthetic `up`/`scrape_*` ones, which keep values.")
    w("- So in the gap windows, replica a holds b's metrics (as scraped by a) with `up`=0 and")
    w("  stale markers, and replica b holds nothing for the gap at all.\n")

    # Exporter stop.
    w("## The node exporter stop\n")
    for r in "ab":
        s, su = ser(r, "up", job="node")
        zeros = [t for t, v in su if v == "0"]
        s, sl = ser(r, "node_load1")
        nan_l = ["%d (%s, %s)" % (t, hms(t), kind(r, s, t)) for t, v in sl if v == "NaN"]
        node_series = [s2 for s2 in dumps[r] if labels(s2).get("instance") == N]
        st = collections.Counter()
        for s2 in node_series:
            for t, v in dumps[r][s2]:
                if stale(r, s2, t, v) and ev["node_kill"] <= t <= ev["node_restart"] + 10000:
                    st[t] += 1
        w("- Replica %s: `up{job=\"node\"}` is 0 in %d samples, %s to %s; `node_load1` is NaN at %s;" % (
            r, len(zeros), "%d (%s)" % (zeros[0], hms(zeros[0])) if zeros else "-",
            "%d (%s)" % (zeros[-1], hms(zeros[-1])) if zeros else "-", ", ".join(nan_l) or "no time"))
        w("  stale markers in %s of its %d `instance=\"node\"` series (all but `up` and `scrape_*`)." % (
            " and ".join("%d (at %d)" % (c, t) for t, c in sorted(st.items())) or "none", len(node_series)))
    w("")

    # Every NaN, summarised.
    w("## Every NaN sample\n")
    w("| replica | job | instance | kind | series | samples | at | metrics |")
    w("|---|---|---|---|---|---|---|---|")
    agg = {}
    for r in "ab":
        for s2, ss in dumps[r].items():
            l = labels(s2)
            for t, v in ss:
                if v != "NaN":
                    continue
                inst = l.get("instance", "")
                k = (r, l.get("job", "-"), names.get(inst, inst or "-"), kind(r, s2, t))
                e = agg.setdefault(k, [set(), 0, set(), set()])
                e[0].add(s2)
                e[1] += 1
                e[2].add(t)
                e[3].add(l.get("__name__"))
    for k, (ss, n, ts, ms) in sorted(agg.items()):
        ts = sorted(ts)
        at = ", ".join("%d (%s)" % (t, hms(t)) for t in ts) if len(ts) <= 2 else \
            "%d times, %s–%s" % (len(ts), hms(ts[0]), hms(ts[-1]))
        mets = ", ".join("`%s`" % m for m in sorted(ms)) if len(ms) <= 5 else "%d metrics" % len(ms)
        w("| %s | %s | %s | %s | %d | %d | %s | %s |" % (k + (len(ss), n, at, mets)))
    w("\nExact bits of all NaN samples, per replica:\n")
    for r in "ab":
        if bits[r] is None:
            w("- replica %s: not checked (tests/e2e/harness.py not importable)" % r)
        else:
            w("- replica %s: %s" % (r, ", ".join("%s x%d" % kv for kv in sorted(bits[r].items())) or "no NaN"))
    w("\n(0x7ff8000000000001 is an ordinary NaN value, e.g. a summary quantile without")
    w("observations, as the exporters publish it.)\n")

    # Label-set differences.
    w("## Series label sets: replica a vs replica b\n")
    w("Per window, series present in one replica's block but not the other's (grouped by")
    w("job and instance; such series cannot be deduplicated against the other replica):\n")
    w("| window end | series a | series b | common | only in a | only in b |")
    w("|---|---|---|---|---|---|")
    all_only = {"a": collections.defaultdict(set), "b": collections.defaultdict(set)}
    for t in wins:
        sa_ = series_in(dumps["a"], t - W, t)
        sb_ = series_in(dumps["b"], t - W, t)

        def fmt(only, r):
            g = collections.defaultdict(set)
            for s2 in only:
                g[group_key(s2, names)].add(labels(s2).get("__name__"))
                all_only[r][group_key(s2, names)].add(s2)
            return "; ".join("%d × job=%s instance=%s" % (len(v), k[0], k[1])
                             for k, v in sorted(g.items(), key=lambda kv: -len(kv[1]))) or "-"
        w("| %d | %d | %d | %d | %s | %s |" % (t, len(sa_), len(sb_), len(sa_ & sb_),
                                             fmt(sa_ - sb_, "a"), fmt(sb_ - sa_, "b")))
    w("")
    for r in "ab":
        for k, ss in sorted(all_only[r].items()):
            lst = sorted(ss)
            w("Only in replica %s, job=%s instance=%s (%d series):\n" % (r, k[0], k[1], len(lst)))
            for s2 in lst[:25]:
                w("    " + s2.replace(A, "a").replace(B, "b").replace(N, "node"))
            if len(lst) > 25:
                w("    ... %d more" % (len(lst) - 25))
            w("")

    # Timestamps.
    w("## Sample timestamps\n")
    for job, inst in [("prometheus", A), ("prometheus", B), ("node", N), ("self", None)]:
        row = []
        for r in "ab":
            want = {"job": job}
            if inst:
                want["instance"] = inst
            s, ss = ser(r, "up", **want)
            ph = collections.Counter(t % 5000 for t, _ in ss)
            row.append("%s: %s" % (r, ", ".join("%d ms x%d" % kv for kv in ph.most_common(3))))
        w("- `up{job=\"%s\"%s}`, timestamp mod 5000: %s" % (job, ",instance=\"%s\"" % names[inst] if inst else "", "; ".join(row)))
    eq, eqdiff = collections.Counter(), collections.Counter()
    for s2 in set(dumps["a"]) & set(dumps["b"]):
        ta = dict(dumps["a"][s2])
        for t, v in dumps["b"][s2]:
            if t in ta:
                l = labels(s2)
                n = l.get("__name__", "")
                k = ("", n) if ":" in n else (l.get("job", ""), "")
                eq[k] += 1
                if ta[t] != v:
                    eqdiff[k] += 1
    w("- Samples of one series with the same timestamp in both replicas: %d%s" % (
        sum(eq.values()), "" if eq else "."))
    for (job, n), c in sorted(eq.items()):
        w("  - %s: %d, of which %d with different values" % (
            "recording rule `%s`" % n if n else "job=%s" % job, c, eqdiff[(job, n)]))
    w("")
    w("Scrapes run at `interval * k + offset` (plus a few ms of jitter, above), the offset a")
    w("hash of the target and of the server's hostname and external labels: it differs per")
    w("replica, does not depend on start times, and survives restarts. Rule groups run at")
    w("`interval * k + offset`, the offset a hash of group name and rules file path: the same")
    w("in both replicas (the rules file is at one path), so recording-rule samples of the two")
    w("replicas share timestamps, with equal or different values.%s\n" % (
        "" if any(job for job, _ in eq) else " Scraped samples never did here."))

    with open(os.path.join(top, "README.md"), "w") as f:
        f.write("\n".join(o).rstrip("\n") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
