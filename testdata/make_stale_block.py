#!/usr/bin/env python3
"""Makes testdata/blocks/stale: a block holding stale markers, written by a real
Prometheus (2.42) rather than by promtool.

Why: OpenMetrics has no way to spell a stale marker -- promtool's parser turns
every NaN into value.NormalNaN (0x7ff8000000000001) -- so promtool
create-blocks-from cannot produce StaleNaN (0x7ff0000000000002). Here a
Prometheus server with --web.enable-remote-write-receiver gets the samples over
remote write (protobuf + snappy, encoded in harness.py with the stdlib), which
keeps every value's exact bits. Once its head spans more than 3h, Prometheus
compacts the first 2h range into a block on its own; that block is copied out.

Usage: make_stale_block.py OUT_DIR      (OUT_DIR/<ULID>/ is created)

Deterministic content (the ULID is not). Head-compacted, so unlike promtool's
blocks its meta.json maxTime is the 2h boundary, not last sample + 1.
"""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from gen_om import STALE_WINDOW  # noqa: E402

STALE = harness.STALE_NAN_BITS
NAN = harness.NORMAL_NAN_BITS
f2b = harness.float_to_bits

START = STALE_WINDOW + 30 * 60000 + 3000   # the block: [START, STALE_WINDOW + 2h)
END = STALE_WINDOW + 4 * 3600 * 1000         # head must span > 3h to be compacted
STEP = 15000
JOB = [("job", "stale")]


def series():
    """[(labels, [(ts, bits)])] over [START, END)."""
    times = list(range(START, END, STEP))
    out = []

    # A target that goes away after 40 minutes: its last sample is a stale marker.
    s = []
    for t in times:
        if t < START + 40 * 60000:
            s.append((t, f2b(1.0)))
        else:
            s.append((t, STALE))
            break
    out.append(([("__name__", "up"), ("instance", "gone:9100")] + JOB, s))

    # A flapping target: 10 minutes up, stale marker, 5 minutes gone, repeat.
    s, v = [], 0.0
    for t in times:
        phase = ((t - START) // 60000) % 15
        if phase < 10:
            v += 3
            s.append((t, f2b(v)))
        elif s and s[-1][1] != STALE:
            s.append((t, STALE))
    out.append(([("__name__", "flappy_total"), ("instance", "flap:9100")] + JOB, s))

    # NaNs with other payloads next to stale markers: only 0x7ff0000000000002 is
    # stale; the rest are ordinary NaN values that must keep their bits.
    cycle = [f2b(1.5), NAN, STALE, f2b(2.5), 0x7FF8000000000000, 0xFFF8000000000000,
             0x7FF0000000000001, STALE, STALE, f2b(-0.0), f2b(float("inf")), NAN]
    s = [(t, cycle[k % len(cycle)]) for k, t in enumerate(times)]
    out.append(([("__name__", "nan_gauge"), ("instance", "nan:9100")] + JOB, s))

    # A series whose only sample in the block is a stale marker.
    out.append(([("__name__", "only_stale"), ("instance", "x:9100")] + JOB,
                [(START + 3600000, STALE)]))

    # Stale markers where chunks start and end: every 120th sample (Prometheus
    # cuts chunks at 120 samples; where exactly is its business).
    s = [(t, STALE if k % 120 in (0, 119) else f2b(float(k))) for k, t in enumerate(times)]
    out.append(([("__name__", "stale_edges"), ("instance", "edge:9100")] + JOB, s))

    # A healthy counter across the whole time (keeps the head growing).
    s = [(t, f2b(float(k * 7))) for k, t in enumerate(times)]
    out.append(([("__name__", "keepalive_total"), ("instance", "ok:9100")] + JOB, s))
    return out


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[0]
    data = series()
    with harness.PrometheusServer(remote_write=True) as prom:
        # Send in time order, 10 minutes of every series per request (the head
        # rejects samples more than 1h older than its newest one).
        for lo in range(START, END, 600000):
            batch = [(lbls, [(t, v) for t, v in s if lo <= t < lo + 600000]) for lbls, s in data]
            harness.remote_write(prom, [b for b in batch if b[1]])
        deadline = time.monotonic() + 120
        blocks = []
        while not blocks:
            blocks = harness.block_dirs(prom.data_dir)
            if time.monotonic() > deadline:
                raise SystemExit("Prometheus made no block in 120 s:\n" + prom.log())
            time.sleep(0.5)
        time.sleep(1)  # let it finish logging/reloading
        os.makedirs(outdir, exist_ok=True)
        for b in blocks:
            shutil.copytree(b, os.path.join(outdir, os.path.basename(b)))
    for b in harness.block_dirs(outdir):
        m = harness.read_meta(b)
        smp = harness.read_block(b).samples()
        n_stale = sum(1 for v in smp.values() for _, bits in v if bits == STALE)
        print("%s: %d..%d, %d series, %d samples, %d stale markers" %
              (b, m["minTime"], m["maxTime"], len(smp), sum(map(len, smp.values())), n_stale))
        if n_stale == 0:
            raise SystemExit("no stale markers in %s" % b)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
