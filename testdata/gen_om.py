#!/usr/bin/env python3
"""Deterministic generator for the OpenMetrics test sources of promblock.

Usage:
  gen_om.py all OM_DIR                 write basic.om, long.om, replica_a.om,
                                       replica_b.om into OM_DIR (the committed ones)
  gen_om.py basic|long|replica_a|replica_b FILE
  gen_om.py big FILE [--series N] [--samples K]
                                       the large cardinality case (not committed)

Every output is a pure function of this file: fixed seeds, no clock, no hash
randomisation (random.Random seeded with str uses SHA-512). Running it twice
gives byte-identical files.

Time windows (ms; Prometheus/promtool cut blocks at 2h-aligned boundaries,
B(k) = 1699999200000 + k * 7200000) are disjoint per data set so that blocks
of different sets can share one Prometheus data dir without overlapping:
  basic      1700000000000 .. ~+5h      -> 3 blocks (B0, B1, B2)
  long       B4 + 250ms .. +5000s      -> 1 block, one series of 10 000 samples
  replica_*  B6 .. B7 (one 2h window)  -> 1 block each
  stale      B8 .. (testdata/make_stale_block.py, via a real Prometheus)
  big        B10                        -> 1 block
Timestamps are written as seconds with at most 3 decimals; promtool reads them
as int64(float(s) * 1000), which is exact for these values (checked below).
"""

import argparse
import math
import os
import random
import sys

BLOCK_MS = 2 * 3600 * 1000
B0 = 1699999200000  # a 2h boundary just before 1700000000000


def boundary(k):
    return B0 + k * BLOCK_MS


BASIC_START = 1700000000000
LONG_START = boundary(4) + 250
REPLICA_WINDOW = boundary(6)
STALE_WINDOW = boundary(8)
BIG_START = boundary(10)


# ---------------------------------------------------------------- formatting

def fmt_ts(ms):
    """Milliseconds -> OpenMetrics seconds string that promtool maps back to ms."""
    if ms % 1000 == 0:
        s = "%d" % (ms // 1000)
    else:
        s = "%d.%03d" % (ms // 1000, ms % 1000)
        s = s.rstrip("0")
    # promtool: p.ts = int64(ParseFloat(s) * 1000) -- truncation, not rounding.
    if int(float(s) * 1000) != ms:
        raise ValueError("timestamp %d would not survive promtool's parsing" % ms)
    return s


def fmt_val(v):
    if isinstance(v, str):  # pre-formatted literal
        return v
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)  # shortest round-trip form; Go's ParseFloat reads it back exactly


def esc(v):
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def series_str(name, labels):
    if not labels:
        return name
    return name + "{" + ",".join('%s="%s"' % (k, esc(v)) for k, v in labels) + "}"


class Writer:
    def __init__(self):
        self.lines = []

    def family(self, name, typ, help_=None):
        self.lines.append("# TYPE %s %s" % (name, typ))
        if help_:
            self.lines.append("# HELP %s %s" % (name, help_))

    def sample(self, name, labels, value, ms):
        self.lines.append("%s %s %s" % (series_str(name, labels), fmt_val(value), fmt_ts(ms)))

    def text(self):
        return "\n".join(self.lines + ["# EOF"]) + "\n"


# ---------------------------------------------------------------- data sets

def gen_basic():
    """Small, varied: counters (with a reset), gauges, special values, churn,
    integer and fractional timestamps, a 1-sample series, escapes and UTF-8."""
    r = random.Random("promblock-basic-v1")
    w = Writer()
    S = BASIC_START
    H = 3600 * 1000
    end = S + 5 * H  # exclusive

    w.family("http_requests", "counter", "Requests served.")
    api = [("job", "api"), ("handler", "/api/v1/query")]
    specs = [  # (instance, code, start, stop, max increment)
        ("app-1:8080", "200", S, end, 50),
        ("app-1:8080", "500", S, end, 3),
        ("app-2:8080", "200", S + 150 * 60000, end, 40),  # appears later (churn)
        ("app-3:8080", "200", S, S + H, 40),               # disappears after 1h
    ]
    for inst, code, start, stop, inc in specs:
        labels = sorted(api + [("instance", inst), ("code", code)])
        v = 0
        for t in range(start, stop, 60000):  # integer-second timestamps
            if inst == "app-1:8080" and code == "200" and t == S + 3 * H:
                v = r.randint(0, 5)  # counter reset
            else:
                v += r.randint(0, inc)
            w.sample("http_requests_total", labels, v, t)

    w.family("temperature_celsius", "gauge")
    for sensor, base in (("outdoor", -8.0), ("freezer", -20.0), ("lab", 21.5)):
        labels = [("sensor", sensor), ("site", "north")]
        for k, t in enumerate(range(S, end, 60000)):
            ms = t + r.randint(1, 999)  # fractional-second timestamps
            v = round(base + 6 * math.sin(k / 20.0) + r.uniform(-0.5, 0.5), r.choice((1, 2, 3)))
            w.sample("temperature_celsius", labels, v, ms)

    # Values whose text forms are easy to get wrong (Go %g vs printf %g, -0,
    # subnormals, extremes, NaN, infinities).
    specials = [0.0, -0.0, 1.0, -1.0, 0.1, -2.5, 1e6, 123456789.0, 1e21, 1e20, 100000.0,
                999999.0, 1234567.0, 0.0001, 0.00001, 1.5e-5, 2.5e-10, 1e-7, 5e-324,
                2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                float(2 ** 53), "9007199254740993", math.pi, 1.0 / 3, -123.456,
                float("nan"), float("inf"), float("-inf"), 42.0, "NaN", -1e-300, 6.02214076e23]
    w.family("special_values", "gauge")
    for k, t in enumerate(range(S + 500, end, 8 * 60000)):
        w.sample("special_values", [("kind", "cycle")], specials[k % len(specials)], t)
    w.family("nan_inf", "gauge")
    for k, t in enumerate(range(S, end, 5 * 60000)):
        v = [float("nan"), float("inf"), float("-inf"), -float(k), float(k) / 7][k % 5]
        w.sample("nan_inf", [("instance", "x")], v, t)

    w.family("negative_gauge", "gauge")
    v = 0.0
    for t in range(S, end, 60000):
        v -= r.uniform(0, 1000)
        w.sample("negative_gauge", [("instance", "x")], round(v, 4), t)

    w.family("one_sample_metric", "gauge")
    w.sample("one_sample_metric", [("only", "one")], 7.25, S + 4321500)

    # Label values needing escapes in OpenMetrics and in Go's strconv.Quote
    # (what promtool dump prints): quote, backslash, newline, tab, DEL, NBSP,
    # zero-width space, multi-byte UTF-8, an emoji. Label names that sort
    # before __name__ (upper case, single underscore).
    w.family("label_escapes", "gauge")
    escapes = [("Alpha", "upper case sorts first"), ("_under", "x"),
               ("backslash", "C:\\Program Files\\promblock\\"), ("newline", "line1\nline2"),
               ("nonprint", "del\x7f nbsp\u00a0 zwsp\u200b"), ("quote", 'say "hi"'),
               ("tab", "a\tb"), ("utf8", "żółw 🐢 日本語 Ünïcödé")]
    for t in range(S + 1000, end, 20 * 60000):
        w.sample("label_escapes", escapes, float(r.randint(-5, 5)), t)
    w.sample("label_escapes", [("quote", '""'), ("utf8", "€")], 1.0, S + 2000)

    # Names sharing prefixes, to exercise series ordering.
    w.family("sortcheck", "gauge")
    for name in ("sortcheck", "sortcheck_a", "sortcheckZ", "sortcheck2"):
        w.sample(name, [("a", "1")], 1.0, S + 60000)
        w.sample(name, [("a", "10")], 2.0, S + 60000)
        w.sample(name, [("a", "2"), ("b", "x")], 3.0, S + 60000)
    return w.text()


def gen_long():
    """One series with exactly 10 000 samples in one 2h block (500 ms apart)."""
    r = random.Random("promblock-long-v1")
    w = Writer()
    w.family("long_series", "gauge")
    v = 100.0
    for k in range(10000):
        t = LONG_START + 500 * k
        v = round(v + r.gauss(0, 1), 2)
        w.sample("long_series", [("samples", "10000")], v, t)
    return w.text()


REPLICA_SERIES = (
    [("node_cpu_seconds_total", "counter", [("cpu", str(c)), ("mode", m)])
     for c in range(4) for m in ("idle", "user")] +
    [("http_requests_total", "counter", [("code", c), ("handler", h)])
     for c in ("200", "404", "500") for h in ("/", "/api")] +
    [("node_memory_MemAvailable_bytes", "gauge", []),
     ("node_load1", "gauge", []),
     ("up", "gauge", []),
     ("go_goroutines", "gauge", []),
     ("process_open_fds", "gauge", []),
     ("scrape_duration_seconds", "gauge", [])]
)
REPLICA_TARGET = [("instance", "host-1:9100"), ("job", "node")]
REPLICA_B_GAP = (REPLICA_WINDOW + 60 * 60000, REPLICA_WINDOW + 70 * 60000)


class _Truth:
    """The one underlying time series both replicas scrape: value = f(t)."""

    def __init__(self, name, typ, labels):
        self.name, self.typ = name, typ
        self.key = name + repr(labels)
        r = random.Random("promblock-truth-" + self.key)
        # Counters: a rate per minute, integrated -> monotonic in t.
        self.rates = [r.uniform(0.1, 2.0) for _ in range(130)]
        self.cum = [0.0]
        for rate in self.rates:
            self.cum.append(self.cum[-1] + rate * 60)
        self.base = r.uniform(0, 1e4)
        self.amp = r.uniform(0.1, 10)

    def at(self, t):
        dt = (t - REPLICA_WINDOW) / 1000.0
        if self.typ == "counter":
            m = int(dt // 60)
            v = self.base + self.cum[m] + self.rates[m] * (dt - 60 * m)
            if self.name.startswith("http"):
                return int(v)
            return round(v, 2)
        n = self.name
        if n == "up":
            return 1
        if n == "node_memory_MemAvailable_bytes":
            return int(8e9 + 1e8 * math.sin(dt / 900.0)) // 4096 * 4096
        if n == "go_goroutines":
            return 40 + int(5 * math.sin(dt / 300.0) + 5)
        if n == "process_open_fds":
            return 12 + int(dt // 1800)
        if n == "scrape_duration_seconds":
            return round(0.004 + 0.001 * abs(math.sin(dt / 61.0)), 6)
        return round(self.amp * (1 + math.sin(dt / 600.0)), 2)  # node_load1


def gen_replica(which):
    """HA pair scraping one target: same 20 series, same 2h window, 15s interval.
    a: phase 1 s, +-5 ms jitter. b: phase 8 s (a + 7 s), +-200 ms jitter, and no
    samples at all in [W+60m, W+70m) (replica restarted)."""
    r = random.Random("promblock-replica-" + which)
    times = []
    for k in range(480):
        if which == "a":
            t = REPLICA_WINDOW + 1000 + 15000 * k + r.randint(-5, 5)
        else:
            t = REPLICA_WINDOW + 8000 + 15000 * k + r.randint(-200, 200)
            if REPLICA_B_GAP[0] <= t < REPLICA_B_GAP[1]:
                continue
        times.append(t)
    w = Writer()
    families = []
    for name, typ, labels in REPLICA_SERIES:
        fam = name[:-len("_total")] if typ == "counter" else name
        if fam not in families:
            families.append(fam)
    for fam in families:
        members = [s for s in REPLICA_SERIES
                   if (s[0][:-len("_total")] if s[1] == "counter" else s[0]) == fam]
        w.family(fam, members[0][1])
        for name, typ, labels in members:
            truth = _Truth(name, typ, labels)
            lbls = sorted(labels + REPLICA_TARGET)
            for t in times:
                w.sample(name, lbls, truth.at(t), t)
    return w.text()


def gen_big(series=50000, samples=2):
    """Many series (default 50 000) with a few samples each, in one block."""
    r = random.Random("promblock-big-v1-%d-%d" % (series, samples))
    w = Writer()
    names = ["bench_metric_%02d" % i for i in range(50)]
    jobs = ["node", "api", "db", "cache", "web"]
    zones = ["eu-west-1a", "eu-west-1b", "us-east-1c"]
    rows = []
    for i in range(series):
        host = i // 50
        labels = [("instance", "10.%d.%d.1:9100" % (host // 256, host % 256)),
                  ("job", jobs[host % 5]), ("zone", zones[i % 3])]
        rows.append((names[i % 50], labels, i % 7))
    rows.sort()
    for name, labels, phase in rows:
        v = r.randint(0, 10 ** 6)
        for k in range(samples):
            w.sample(name, labels, v, BIG_START + 15000 * k + phase)
            v += r.randint(0, 100)
    return w.text()


GENERATORS = {
    "basic": gen_basic,
    "long": gen_long,
    "replica_a": lambda: gen_replica("a"),
    "replica_b": lambda: gen_replica("b"),
}


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=sorted(GENERATORS) + ["all", "big"])
    ap.add_argument("out", help="output file, or directory for 'all'")
    ap.add_argument("--series", type=int, default=50000)
    ap.add_argument("--samples", type=int, default=2)
    a = ap.parse_args(argv)
    if a.what == "all":
        os.makedirs(a.out, exist_ok=True)
        for name, gen in sorted(GENERATORS.items()):
            write(os.path.join(a.out, name + ".om"), gen())
    elif a.what == "big":
        write(a.out, gen_big(a.series, a.samples))
    else:
        write(a.out, GENERATORS[a.what]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
