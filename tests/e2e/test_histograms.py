#!/usr/bin/env python3
"""Native histograms (encoding 2) and float histograms (encoding 3), as
written by a real Prometheus 2.42 with --enable-feature=native-histograms
(testdata/histograms/, made by its make_fixtures.sh: an HA pair scraping
counter, gauge and resetting native histograms next to a float counter, and
recording float histograms from them by rules).

- dump prints every histogram sample as Prometheus's Histogram.String()
  does, and its count, sum and buckets equal what Prometheus's own query API
  returns for the same blocks, sample by sample (bucket bounds to within an
  ulp: Prometheus takes those of schemas above 0 from a table);
- float samples of the same blocks are printed exactly as promtool tsdb dump
  prints them;
- verify --deep decodes the histogram chunks (no "cannot decode" warning);
- dump --format openmetrics refuses histograms instead of dropping them.

Merging them: test_histogram_merge.py.
"""

import json
import math
import os
import re
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FIXTURES = os.path.join(h.TESTDATA, "histograms")
REPLICAS = [os.path.join(FIXTURES, r) for r in ("replica_a", "replica_b")]
HISTOGRAM_NAMES = ["hist_latency_seconds", "hist_signed_delta", "hist_resetting_seconds",
                   "hist_queue_depth",
                   # float histograms (encoding 3), recorded by rules
                   "hist_latency_seconds:sum", "hist_signed_delta:rate30s"]

STALE_TEXT = "{count:0, sum:NaN}"  # a stale marker as dump prints it
BUCKET_RE = re.compile(r"([\[(])([^,\]\[()]+),([^,\]\[()]+)([\])]):([^,}]+)")


def parse_histogram(text):
    """'{count:N, sum:S, [a,b):n, ...}' -> (count, sum, [(rule, lower, upper, count)]),
    rule as the query API numbers it (0 left-open, 1 right-open, 3 closed);
    counts as floats (float histograms have fractional ones)."""
    m = re.fullmatch(r"\{count:([^,}]+), sum:([^,}]+)(.*)\}", text)
    if not m:
        raise AssertionError("not a histogram: %r" % text)
    buckets = []
    for o, lo, hi, c, n in BUCKET_RE.findall(m.group(3)):
        rule = {("(", "]"): 0, ("[", ")"): 1, ("(", ")"): 2, ("[", "]"): 3}[o, c]
        buckets.append((rule, float(lo), float(hi), float(n)))
    return float(m.group(1)), float(m.group(2)), buckets


def split_dump(text):
    """dump text -> ({series: [(ts, histogram text)]}, float lines)."""
    hists, floats = {}, []
    for line in text.splitlines():
        series, value, ts = h.split_dump_line(line)
        if value.startswith("{count:"):
            hists.setdefault(series, []).append((ts, value))
        else:
            floats.append(line)
    return hists, floats


class HistogramTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.blocks = {r: h.block_dirs(r) for r in REPLICAS}
        for r, blocks in cls.blocks.items():
            assert blocks, "no fixture blocks in %s" % r

    dump = staticmethod(h.promblock_dump)

    def test_every_histogram_series_is_dumped(self):
        hists, _ = split_dump(self.dump(REPLICAS[0]))
        names = {re.match(r"\{__name__=\"([^\"]+)\"", s).group(1) for s in hists}
        self.assertEqual(names, set(HISTOGRAM_NAMES))
        for series, samples in hists.items():
            self.assertGreater(len(samples), 10, series)
            for _, text in samples:
                parse_histogram(text)

    def test_histograms_equal_the_query_api(self):
        for replica in REPLICAS:
            blocks = self.blocks[replica]
            metas = [h.read_meta(b) for b in blocks]
            mint, maxt = min(m["minTime"] for m in metas), max(m["maxTime"] for m in metas)
            hists, _ = split_dump(self.dump(replica))
            checked = 0
            with h.PrometheusServer(blocks, extra_args=["--enable-feature=native-histograms"]) \
                    as prom:
                for name in HISTOGRAM_NAMES:
                    end = maxt - 1
                    resp = prom.query("%s[%dms]" % (name, end - mint + 1),
                                      time=h.ms_to_api_time(end))
                    result = resp["data"]["result"]
                    self.assertTrue(result, name)
                    for series in result:
                        key = h.labels_str(series["metric"].items())
                        got = hists.get(key)
                        self.assertIsNotNone(got, "dump lacks %s" % key)
                        # Range selections leave stale markers out.
                        got = [(t, x) for t, x in got if x != STALE_TEXT]
                        want = series.get("histograms", [])
                        self.assertEqual(len(got), len(want), key)
                        for (ts, text), (api_t, api_h) in zip(got, want):
                            self.assertEqual(ts, int(round(float(api_t) * 1000)), key)
                            count, s, buckets = parse_histogram(text)
                            self.assertEqual(count, float(api_h["count"]), (key, ts))
                            self.assertEqual(s, float(api_h["sum"]), (key, ts))
                            api_buckets = [(b[0], float(b[1]), float(b[2]), float(b[3]))
                                           for b in api_h.get("buckets", [])]
                            # Bounds of schemas above 0 come from a table of
                            # Prometheus's whose entries can be one ulp off the
                            # exact power of two that we compute.
                            self.assertEqual(len(buckets), len(api_buckets), (key, ts, text))
                            for b, a in zip(buckets, api_buckets):
                                self.assertEqual((b[0], b[3]), (a[0], a[3]), (key, ts, text))
                                for x, y in ((b[1], a[1]), (b[2], a[2])):
                                    self.assertTrue(math.isclose(x, y, rel_tol=1e-15),
                                                    (key, ts, text, b, a))
                            checked += 1
            self.assertGreater(checked, 100, replica)

    def test_float_samples_equal_promtool(self):
        for replica in REPLICAS:
            _, floats = split_dump(self.dump(replica))
            want = [line for line in h.promtool_dump(replica).splitlines() if " {count:" not in line]
            self.assertTrue(any(line.startswith('{__name__="hist_requests_total"') for line in floats))
            self.assertEqual(floats, want)

    def test_verify_deep_decodes_histogram_chunks(self):
        for replica in REPLICAS:
            rc, out, err = h.run_promblock(["verify", "--deep", "--json", replica], timeout=300)
            self.assertEqual(rc, 0, out + err)
            for line in out.splitlines():
                obj = json.loads(line)
                self.assertNotIn("cannot decode", obj.get("problem", ""), obj)
                self.assertNotEqual(obj.get("severity"), "error", obj)

    def test_openmetrics_dump_refuses_histograms(self):
        rc, so, se = h.run_promblock(["dump", "--format", "openmetrics", REPLICAS[0]])
        self.assertEqual(rc, 1, se)
        self.assertIn("native histograms", se)
        self.assertEqual(len(se.strip().splitlines()), 1, se)


if __name__ == "__main__":
    h.main()
