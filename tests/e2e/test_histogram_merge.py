#!/usr/bin/env python3
"""Merging the native histogram blocks of a real Prometheus 2.42 HA pair
(testdata/histograms/, whose replicas' histogram chunks overlap in time),
with chain and penalty dedup:

- the merge succeeds, verify --deep finds no problem, promtool reads it;
- the output's samples, histograms and floats, are exactly the reference
  dedup (penalty_ref.py) of the replicas' samples, as dump prints them
  (dump itself is checked against Prometheus's query API in
  test_histograms.py);
- a real Prometheus loads the output, and histogram_count, histogram_sum and
  histogram_quantile answer, at every reference sample's timestamp, what the
  same query answers on the replica the sample came from, and range queries
  over the whole output step by step give the value of the latest reference
  sample (Prometheus's 5-minute lookback);
- compact (vertical jobs) gives the same samples as merge;
- the counter histogram that restarts from zero every 25 scrapes shows as
  many resets in the output as in the reference.
"""

import bisect
import os
import re
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import penalty_ref  # noqa: E402
from test_histograms import HISTOGRAM_NAMES as HISTOGRAMS, REPLICAS, STALE_TEXT  # noqa: E402

FUNCTIONS = ["histogram_count(%s)", "histogram_sum(%s)", "histogram_quantile(0.9, %s)",
             "histogram_quantile(0.5, %s)"]
NATIVE = ["--enable-feature=native-histograms"]


def per_series(fn):
    """One query applying fn to every histogram series, keeping their names
    in a label (histogram functions drop them, the series differ only by
    name, and `or` matches without the name)."""
    return " or ".join('label_replace(%s, "hist_name", "%s", "", "")' % (fn % n, n)
                       for n in HISTOGRAMS)


def vector(resp):
    """Instant query result -> {series: value string} (NaN and all)."""
    return {series_key(s["metric"]): s["value"][1] for s in resp["data"]["result"]}


def series_key(metric):
    """Labels of a per_series() result -> the series' labels as dump prints them."""
    metric = dict(metric)
    if "hist_name" in metric:
        metric["__name__"] = metric.pop("hist_name")
    return h.labels_str(metric.items())


class HistogramMergeTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.inputs = []
        for r in REPLICAS:
            rc, out, err = h.run_promblock(["dump", r], timeout=300)
            assert rc == 0, err
            cls.inputs.append(h.parse_dump(out))
        cls.outputs = {}
        for mode in ("chain", "penalty"):
            out = os.path.join(h.mkdtemp(prefix="promblock-histmerge-"), "out")
            rc, so, se = h.run_promblock(["merge", "--dedup", mode, "--out", out] + REPLICAS,
                                         timeout=300)
            assert rc == 0, so + se
            cls.outputs[mode] = out

    def reference(self, mode):
        """{series: [(ts, value text, replica index)]}: the dedup of the replicas."""
        ref = {}
        for series in set().union(*self.inputs):
            streams = [[(t, (v, i)) for t, v in inp.get(series, [])]
                       for i, inp in enumerate(self.inputs)]
            ref[series] = [(t, v, i) for t, (v, i) in penalty_ref.dedup(mode, streams)]
        return ref

    def test_output_verifies(self):
        for mode, out in self.outputs.items():
            rc, so, se = h.run_promblock(["verify", "--deep", out], timeout=300)
            self.assertEqual(rc, 0, (mode, so, se))
            # promtool reads the output too (it prints the float series).
            self.assertIn("hist_requests_total", h.promtool_dump(out))

    def test_samples_are_the_reference_dedup(self):
        for mode, out in self.outputs.items():
            rc, text, err = h.run_promblock(["dump", out], timeout=300)
            self.assertEqual(rc, 0, err)
            got = h.parse_dump(text)
            want = {s: [(t, v) for t, v, _ in smp] for s, smp in self.reference(mode).items()}
            self.assertEqual(sorted(got), sorted(want), mode)
            for series in want:
                self.assertEqual(got[series], want[series], (mode, series))
            hist = sum(len(v) for s, v in want.items() if s.startswith('{__name__="hist_') and
                       v and v[0][1].startswith("{count:"))
            self.assertGreater(hist, 200, mode)

    def test_queries_equal_those_on_the_source_replicas(self):
        for mode, out in self.outputs.items():
            ref = {s: smp for s, smp in self.reference(mode).items()
                   if smp and smp[0][1].startswith("{count:")}
            # (ts, replica) -> series whose reference sample at ts came from it
            owners, stale = {}, set()
            for series, smp in ref.items():
                for t, v, i in smp:
                    owners.setdefault((t, i), set()).add(series)
                    if v == STALE_TEXT:
                        stale.add((series, t))
            self.assertTrue(stale, "the fixtures hold a stale float histogram")
            blocks = [h.block_dirs(r) for r in REPLICAS]
            with h.PrometheusServer(h.block_dirs(out), extra_args=NATIVE) as merged, \
                    h.PrometheusServer(blocks[0], extra_args=NATIVE) as pa, \
                    h.PrometheusServer(blocks[1], extra_args=NATIVE) as pb:
                replicas = [pa, pb]
                for fn in FUNCTIONS:
                    query = per_series(fn)
                    at_sample = {}  # series -> [(ts, value)] from the source replica
                    for (t, i), series_set in sorted(owners.items()):
                        when = h.ms_to_api_time(t)
                        got = vector(merged.query(query, time=when))
                        want = vector(replicas[i].query(query, time=when))
                        for series in series_set:
                            # None where the sample is a stale marker: the
                            # series has no value there, on either server.
                            self.assertEqual(series in want, (series, t) not in stale,
                                             (mode, query, t, series))
                            self.assertEqual(got.get(series), want.get(series),
                                             (mode, query, t, series))
                            at_sample.setdefault(series, []).append((t, want.get(series)))
                    self.check_range_query(merged, query, at_sample, mode)

    def test_compact_gives_the_merged_samples(self):
        # Vertical compaction jobs (one per 2-minute window) merge the same
        # histogram chunks: with chain dedup, which looks at one timestamp
        # at a time, the output holds exactly the merge's samples.
        out = os.path.join(h.mkdtemp(prefix="promblock-histcompact-"), "out")
        rc, so, se = h.run_promblock(["compact", "--dedup", "chain", "--consistency-delay", "0s",
                                      "--out", out] + REPLICAS, timeout=300)
        self.assertEqual(rc, 0, so + se)
        self.assertIn("vertical", so)
        dumps = []
        for d in (out, self.outputs["chain"]):
            rc, text, err = h.run_promblock(["dump", d], timeout=300)
            self.assertEqual(rc, 0, err)
            dumps.append(h.parse_dump(text))
        self.assertEqual(dumps[0], dumps[1])
        rc, so, se = h.run_promblock(["verify", "--deep", out], timeout=300)
        self.assertEqual(rc, 0, so + se)

    def check_range_query(self, server, query, at_sample, mode):
        """Each step's value is that of the latest sample at or before it."""
        first = min(v[0][0] for v in at_sample.values())
        last = max(v[-1][0] for v in at_sample.values())
        resp = server.query_range(query, h.ms_to_api_time(first), h.ms_to_api_time(last), "3.7")
        result = {series_key(s["metric"]): s["values"] for s in resp["data"]["result"]}
        self.assertEqual(sorted(result), sorted(at_sample), (mode, query))
        for series, values in result.items():
            times = [t for t, _ in at_sample[series]]
            self.assertGreater(len(values), 20, (mode, query, series))
            got = {int(round(float(step_t) * 1000)): v for step_t, v in values}
            # Every step from the first sample on, with a value unless the
            # latest sample before it is a stale marker.
            step = 3700
            for ms in range(first, last + 1, step):
                k = bisect.bisect_right(times, ms) - 1
                want = at_sample[series][k][1] if k >= 0 else None
                self.assertEqual(got.get(ms), want, (mode, query, series, ms))

    def test_counter_resets_survive(self):
        name = "hist_resetting_seconds"
        for mode, out in self.outputs.items():
            ref = [smp for s, smp in self.reference(mode).items() if ('"%s"' % name) in s]
            self.assertEqual(len(ref), 1)
            counts = [int(re.match(r"\{count:(\d+)", v).group(1)) for _, v, _ in ref[0]]
            resets = sum(1 for p, c in zip(counts, counts[1:]) if c < p)
            self.assertGreaterEqual(resets, 2, (mode, counts))
            t0, t1 = ref[0][0][0], ref[0][-1][0]
            with h.PrometheusServer(h.block_dirs(out), extra_args=NATIVE) as prom:
                # A 100 ms subquery sees every sample (they are >= 300 ms apart).
                q = "resets(histogram_count(%s)[%dms:100ms])" % (name, t1 - t0 + 100)
                got = vector(prom.query(q, time=h.ms_to_api_time(t1)))
                self.assertEqual([float(v) for v in got.values()], [float(resets)], (mode, q))


if __name__ == "__main__":
    h.main()
