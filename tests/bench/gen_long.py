#!/usr/bin/env python3
"""Deterministic OpenMetrics for the long-range benchmark cases, one window
(one future block) at a time.

Usage:
  gen_long.py --targets N --metrics M --replica R --window-hours H
              --window W --windows K OUT

Writes what HA replica R scraped in window W (of K consecutive windows of H
hours, starting at LONG_START) from N targets exposing M series each, every
15 s, as OpenMetrics text that `promtool tsdb create-blocks-from openmetrics
--max-block-duration Hh` turns into one block. Series, labels and values
are gen_om.py's (the same families, kinds and signal, continuous across
windows); the replicas differ as there:
  - every target has its own scrape phase, shifted by 3.7 s per replica,
    and some scrapes are a few ms late;
  - replica 1 misses 10 minutes in the middle of the whole range (a restart).
The output is a pure function of the arguments, this file and gen_om.py.
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_om  # noqa: E402  (same directory)

# A multiple of 42 days since the epoch: aligned to 2h, 18h, 24h and 14d
# windows alike, so that every case's blocks fall inside its output range.
LONG_START = 1701907200000
STEP_MS = gen_om.STEP_MS


def scrape_times(target, replica, first, count, total):
    """[(seconds since LONG_START, ' <ts>\\n')] of scrapes first..first+count."""
    offset = random.Random("bench-target-%d" % target).randrange(STEP_MS)
    phase = 5 + (offset + replica * gen_om.REPLICA_SHIFT_MS) % (STEP_MS - 10)
    # Seeded per window, so that a window is generated without the others.
    jitter = random.Random("bench-long-jitter-%d-%d-%d" % (replica, target, first))
    gap = range(0)
    if replica == gen_om.GAP_REPLICA:
        mid = total // 2
        gap = range(mid - gen_om.GAP_SCRAPES // 2, mid + gen_om.GAP_SCRAPES // 2)
    out = []
    for k in range(first, first + count):
        late = jitter.random() < gen_om.JITTER_SHARE
        j = jitter.randint(-gen_om.JITTER_MS, gen_om.JITTER_MS) if late else 0
        if k in gap:
            continue
        ms = LONG_START + STEP_MS * k + phase + j
        out.append(((ms - LONG_START) / 1000.0, " " + gen_om.fmt_ts(ms) + "\n"))
    return out


def generate(out, targets, metrics, replica, first, count, total):
    # gen_om.generate writes the series; only the scrape times differ. (Its
    # file stays as it is: the small and large caches are keyed by its hash.)
    window_times = gen_om.scrape_times
    gen_om.scrape_times = lambda target, r, _: scrape_times(target, r, first, count, total)
    try:
        gen_om.generate(out, targets, metrics, replica, count)
    finally:
        gen_om.scrape_times = window_times


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, required=True)
    ap.add_argument("--metrics", type=int, required=True, help="series per target")
    ap.add_argument("--replica", type=int, required=True, help="replica index, from 0")
    ap.add_argument("--window-hours", type=int, required=True, help="hours per window (block)")
    ap.add_argument("--window", type=int, required=True, help="window index, from 0")
    ap.add_argument("--windows", type=int, required=True, help="windows in the whole range")
    ap.add_argument("--hours", type=int, help="hours in the whole range (default: all windows)")
    ap.add_argument("out")
    a = ap.parse_args(argv)
    per_window = a.window_hours * 3600 * 1000 // STEP_MS
    total = (a.hours or a.window_hours * a.windows) * 3600 * 1000 // STEP_MS
    if not 0 <= a.window < a.windows or total > per_window * a.windows:
        ap.error("window out of range")
    first = a.window * per_window
    # The last window may be cut short by the range's end. Every scrape
    # stays inside its window: phases are in [5, 14995) ms, jitter 3 ms.
    count = min(per_window, total - first)
    with open(a.out, "w", encoding="ascii", newline="\n", buffering=1 << 20) as f:
        generate(f, a.targets, a.metrics, a.replica, first, count, total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
