#!/usr/bin/env python3
"""Deterministic OpenMetrics generator for promblock's benchmark.

Usage:
  gen_om.py --targets N --metrics M --replica R [--samples K] OUT|-

Writes what HA replica R (0, 1, 2, ...) of a Prometheus pair/triple would have
scraped from N targets exposing M series each (series = N*M), K samples per
series (default 480: one 2h window at a 15 s interval), as OpenMetrics text
that `promtool tsdb create-blocks-from openmetrics` turns into one 2h block.

The output is a pure function of the arguments and this file: fixed seeds,
no clock. Replicas differ only where real HA replicas differ:
  - timestamps: every target has its own scrape phase, shifted by 3.7 s per
    replica, plus a few ms of jitter on some scrapes, so no two replicas
    share a timestamp;
  - replica 1 misses 10 minutes in the middle (a restart): 40 scrapes;
  - the values are one function of time per series, so replicas agree on the
    signal but not on the sample times.
Series labels are identical across replicas (no replica label): each source
directory is one replica for `promblock merge`.

Samples are grouped by family, then series, then time, as OpenMetrics wants
(promtool would also take series interleaved in time order). Timestamps are
seconds with at most 3 decimals; promtool reads them as
int64(float(s) * 1000), which fmt_ts checks is exact.
"""

import argparse
import math
import random
import signal
import sys

BLOCK_MS = 2 * 3600 * 1000
B0 = 1699999200000  # a 2h boundary, as in testdata/gen_om.py
WINDOW_START = B0 + 12 * BLOCK_MS  # clear of the windows testdata uses
STEP_MS = 15000
JITTER_MS = 3
JITTER_SHARE = 0.4
REPLICA_SHIFT_MS = 3700
GAP_REPLICA = 1
GAP_SCRAPES = 40  # 10 minutes at 15 s
VARIANTS = 10  # series per family and target (label cpu="0".."9")
JOBS = ("node", "api", "db", "cache")
# Family kinds, by family index modulo 5. The mix (float and integer
# counters, an integer gauge, a float gauge that changes every few minutes)
# makes blocks of about 3.5-4 bytes per sample, like the ones the first benchmark measured.
KINDS = ("counter", "counter_int", "gauge_int", "counter_int", "gauge_step")


def fmt_ts(ms):
    """Milliseconds -> OpenMetrics seconds string that promtool maps back to ms."""
    if ms % 1000 == 0:
        s = "%d" % (ms // 1000)
    else:
        s = ("%d.%03d" % (ms // 1000, ms % 1000)).rstrip("0")
    # promtool: p.ts = int64(ParseFloat(s) * 1000) -- truncation, not rounding.
    if int(float(s) * 1000) != ms:
        raise ValueError("timestamp %d would not survive promtool's parsing" % ms)
    return s


def scrape_times(target, replica, samples):
    """[(seconds since window start, ' <ts>\\n')] of one target on one replica.
    All series of a target share its scrape times, as in a real scrape."""
    offset = random.Random("bench-target-%d" % target).randrange(STEP_MS)
    # Inside [5, 14995) so that jitter keeps every sample in the 2h window.
    phase = 5 + (offset + replica * REPLICA_SHIFT_MS) % (STEP_MS - 10)
    jitter = random.Random("bench-jitter-%d-%d" % (replica, target))
    gap = range(0)
    if replica == GAP_REPLICA:
        mid = samples // 2
        gap = range(mid - GAP_SCRAPES // 2, mid + GAP_SCRAPES // 2)
    out = []
    for k in range(samples):
        # Most scrapes start on the tick; some a few ms off (a busy server).
        # Drawn for every k so the gap does not shift the other scrapes.
        j = jitter.randint(-JITTER_MS, JITTER_MS) if jitter.random() < JITTER_SHARE else 0
        if k in gap:
            continue
        ms = WINDOW_START + STEP_MS * k + phase + j
        out.append(((ms - WINDOW_START) / 1000.0, " " + fmt_ts(ms) + "\n"))
    return out


def families(metrics):
    """[(family name, OpenMetrics type, sample name, kind, variants)]."""
    out = []
    for f in range((metrics + VARIANTS - 1) // VARIANTS):
        kind = KINDS[f % len(KINDS)]
        n = min(VARIANTS, metrics - f * VARIANTS)
        if kind.startswith("counter"):
            name = "bench_counter_%03d" % f
            out.append((name, "counter", name + "_total", kind, n))
        else:
            name = "bench_gauge_%03d" % f
            out.append((name, "gauge", name, kind, n))
    return out


def series_values(kind, u, times):
    """Formatted values at the given times: a pure function of the series'
    parameters u (four numbers in [0, 1)) and of time, never of the replica."""
    sin, cos = math.sin, math.cos
    w = 2 * math.pi / (300 + 6900 * u[2])  # periods of 5 min .. 2 h
    ph = 2 * math.pi * u[3]
    if kind.startswith("counter"):
        # Integral of rate * (1 + 0.5 sin(w t + ph)): increasing, never flat.
        c0 = cos(ph)
        if kind == "counter":  # e.g. CPU seconds
            base, rate, fmt = 1e5 * u[0], 0.01 + 2 * u[1], "%.2f"
        else:  # e.g. requests
            base, rate, fmt = int(1e4 * u[0]), 0.01 + 5 * u[1], "%d"
        return [fmt % (base + rate * (t - 0.5 / w * (cos(w * t + ph) - c0))) for t, _ in times]
    base, amp = 1e4 * u[0], 1 + 100 * u[1]
    if kind == "gauge_step":  # e.g. a setting or a slow sensor: changes every 5..30 min
        step = 300 * (1 + int(6 * u[1]))
        return ["%.2f" % (base + amp * sin(w * (t // step * step) + ph)) for t, _ in times]
    return ["%d" % (base + amp * sin(w * t + ph)) for t, _ in times]  # e.g. goroutines


def generate(out, targets, metrics, replica, samples):
    times = [scrape_times(t, replica, samples) for t in range(targets)]
    # One stream of series parameters, consumed in the same order for every
    # replica, so every replica sees the same signal.
    rnd = random.Random("bench-values-v1")
    for fam, typ, sample_name, kind, variants in families(metrics):
        out.write("# TYPE %s %s\n" % (fam, typ))
        for t in range(targets):
            tt = times[t]
            instance = "host-%04d:9100" % t
            job = JOBS[t % len(JOBS)]
            for v in range(variants):
                u = (rnd.random(), rnd.random(), rnd.random(), rnd.random())
                prefix = '%s{cpu="%d",instance="%s",job="%s"} ' % (sample_name, v, instance, job)
                vals = series_values(kind, u, tt)
                out.write("".join([prefix + val + ts for val, (_, ts) in zip(vals, tt)]))
    out.write("# EOF\n")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, required=True)
    ap.add_argument("--metrics", type=int, required=True, help="series per target")
    ap.add_argument("--replica", type=int, required=True, help="replica index, from 0")
    ap.add_argument("--samples", type=int, default=480, help="scrapes in the window (max 480)")
    ap.add_argument("out", help="output file, - for stdout")
    a = ap.parse_args(argv)
    if not 1 <= a.samples <= BLOCK_MS // STEP_MS:
        ap.error("--samples must be in 1..%d (one 2h block)" % (BLOCK_MS // STEP_MS))
    if a.out == "-":
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet end under `| head`
        generate(sys.stdout, a.targets, a.metrics, a.replica, a.samples)
    else:
        with open(a.out, "w", encoding="ascii", newline="\n", buffering=1 << 20) as f:
            generate(f, a.targets, a.metrics, a.replica, a.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
