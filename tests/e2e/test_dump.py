#!/usr/bin/env python3
"""promblock dump == promtool tsdb dump, byte for byte (`text` is
line-for-line what `promtool tsdb dump` prints for the same blocks).

SOURCE forms: one block dir, a dir of blocks, several sources at once,
overlapping blocks (replica pair). Data: every committed block set, the
10 000-sample series, the generated 50 000-series set. Filters: --match
(=, !=, =~, !~, UTF-8 and escaped values; repeated --match = union), --min-time/--max-time (ms with the
`ms` suffix, Unix seconds, RFC 3339; promtool gets the same instants in ms;
both ends inclusive, as promtool's are). --format openmetrics is checked by
feeding it back to promtool create-blocks-from openmetrics. Bad usage exits 2.
"""

import datetime
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def rfc3339(ms, offset_minutes=0):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    d = datetime.datetime.fromtimestamp(ms / 1000, tz)
    frac = ".%03d" % (ms % 1000) if ms % 1000 else ""
    if offset_minutes == 0:
        return d.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    return d.strftime("%Y-%m-%dT%H:%M:%S") + frac + d.strftime("%z")[:3] + ":" + d.strftime("%z")[3:]


class DumpTest(unittest.TestCase):
    maxDiff = 2000

    @classmethod
    def setUpClass(cls):
        cls.sets = h.committed_block_sets()
        cls.basic = cls.sets["basic"]

    dump = staticmethod(h.promblock_dump)

    def assertSameText(self, got, want, what):
        if got != want:
            gl, wl = got.splitlines(True), want.splitlines(True)
            i = next((i for i, (a, b) in enumerate(zip(gl, wl)) if a != b), min(len(gl), len(wl)))
            self.fail("%s: output differs from promtool's at line %d (%d vs %d lines)\n"
                      "promblock: %r\npromtool:  %r" % (what, i + 1, len(gl), len(wl),
                                                        gl[i] if i < len(gl) else "<end>",
                                                        wl[i] if i < len(wl) else "<end>"))

    # -- sources
    def test_each_block_set_as_dir_of_blocks(self):
        for name, src in self.sets.items():
            with self.subTest(set=name):
                want = h.promtool_dump(src)
                self.assertTrue(want)
                self.assertSameText(self.dump(src), want, name)

    def test_each_single_block(self):
        for name, src in self.sets.items():
            for b in h.block_dirs(src):
                with self.subTest(block=b):
                    want = h.promtool_dump(b)
                    self.assertTrue(want)
                    self.assertSameText(self.dump(b), want, b)

    def test_several_sources(self):
        srcs = [self.sets["basic"], self.sets["long"], self.sets["stale"]]
        want = h.promtool_dump(srcs)
        self.assertSameText(self.dump(*srcs), want, "basic+long+stale")
        # A single block next to a dir of blocks.
        srcs = [h.block_dirs(self.sets["basic"])[1], self.sets["replica_a"]]
        self.assertSameText(self.dump(*srcs), h.promtool_dump(srcs), "block + dir")

    def test_overlapping_replica_blocks(self):
        # promtool merges overlapping blocks' series (one sample per timestamp).
        srcs = [self.sets["replica_a"], self.sets["replica_b"]]
        want = h.promtool_dump(srcs)
        self.assertEqual(len(want.splitlines()), 9600 + 8800)
        self.assertSameText(self.dump(*srcs), want, "replica_a+replica_b")

    def test_ten_thousand_sample_series(self):
        out = self.dump(self.sets["long"])
        self.assertEqual(len(out.splitlines()), 10000)
        self.assertSameText(out, h.promtool_dump(self.sets["long"]), "long")

    def test_fifty_thousand_series(self):
        big = h.big_block_set(50000, 2)
        want = h.promtool_dump(big)
        self.assertEqual(len(want.splitlines()), 100000)
        self.assertSameText(self.dump(big), want, "50k series")
        sel = '{__name__="bench_metric_07",job=~"db|web"}'
        self.assertSameText(self.dump("--match", sel, big), h.promtool_dump(big, match=sel),
                            "50k series " + sel)

    # -- filters
    SELECTORS = [
        '{__name__="http_requests_total"}',
        'http_requests_total{code!="200"}',
        '{__name__=~"temp.*|nan_inf"}',
        '{__name__=~".+",__name__!~"http.*|label_escapes|temp.*"}',
        '{instance=~"app-[12]:8080",code="200"}',
        '{__name__=~"(?i)TEMPERATURE.*",sensor!~"lab|freezer"}',
        'label_escapes{utf8="żółw 🐢 日本語 Ünïcödé"}',
        'label_escapes{utf8=~"żółw . 日本語 .*"}',   # "." must match one rune (🐢)
        'label_escapes{quote="say \\"hi\\""}',
        '{newline="line1\\nline2"}',
        '{tab="a\\tb"}',
        '{a!="1",a=~".+"}',
        'one_sample_metric',
    ]
    EMPTY_SELECTORS = [
        'nonexistent_metric',
        '{__name__=~"temp"}',               # regexes are anchored
        '{__name__=~"http.*",code="404"}',
    ]

    def test_match(self):
        for sel in self.SELECTORS:
            with self.subTest(match=sel):
                want = h.promtool_dump(self.basic, match=sel)
                self.assertTrue(want, "selector matches nothing in promtool: " + sel)
                self.assertSameText(self.dump("--match", sel, self.basic), want, sel)
                self.assertSameText(self.dump("--match=" + sel, self.basic), want, sel)
        for sel in self.EMPTY_SELECTORS:
            with self.subTest(match=sel):
                self.assertEqual(h.promtool_dump(self.basic, match=sel), "")
                self.assertEqual(self.dump("--match", sel, self.basic), "")

    def test_repeated_match_is_union(self):
        # promblock-dump(1): --match may be repeated; the result is the union.
        # promtool takes one selector, so the expectation is built from its
        # dumps of each selector, merged in series order.
        pairs = [('{__name__="one_sample_metric"}', 'nan_inf'),
                 ('http_requests_total{code="200"}', '{instance="app-1:8080"}'),
                 ('{sensor="lab"}', '{__name__=~"temperature_celsius|special_values"}')]
        for s1, s2 in pairs:
            with self.subTest(match=(s1, s2)):
                d = h.parse_dump(h.promtool_dump(self.basic, match=s1))
                d.update(h.parse_dump(h.promtool_dump(self.basic, match=s2)))
                want = "".join("%s %s %d\n" % (k, v, t)
                               for k in sorted(d, key=lambda k: sorted(h.parse_labels_str(k)))
                               for t, v in d[k])
                self.assertTrue(want)
                self.assertSameText(self.dump("--match", s1, "--match", s2, self.basic), want,
                                    "union of %s and %s" % (s1, s2))

    def test_time_range(self):
        # Bounds on exact sample timestamps (inclusivity matters), across block
        # boundaries, in each time syntax of promblock(1).
        t_min = 1700003600000   # an http_requests_total sample (block 0)
        t_max = 1700010000000   # another one (block 1)
        cases = [
            (["--min-time", "%dms" % t_min, "--max-time", "%dms" % t_max], t_min, t_max),
            (["--min-time", str(t_min // 1000), "--max-time", str(t_max // 1000)], t_min, t_max),
            (["--min-time", rfc3339(t_min), "--max-time", rfc3339(t_max)], t_min, t_max),
            (["--min-time", rfc3339(t_min, 120), "--max-time", rfc3339(t_max, -330)], t_min, t_max),
            (["--min-time", rfc3339(1700000001234)], 1700000001234, None),
            (["--max-time", "1700006420000ms"], None, 1700006420000),
            (["--min-time=1700013620000ms"], 1700013620000, None),
            (["--min-time", "1700000060001ms", "--max-time", "1700000119999ms"],
             1700000060001, 1700000119999),
        ]
        for args, lo, hi in cases:
            with self.subTest(args=args):
                want = h.promtool_dump(self.basic, min_time=lo, max_time=hi)
                self.assertTrue(want)
                self.assertSameText(self.dump(*(args + [self.basic])), want, " ".join(args))
        # A range between samples selects nothing.
        self.assertEqual(h.promtool_dump(self.basic, min_time=1700000122001,
                                         max_time=1700000179999), "")
        self.assertEqual(self.dump("--min-time", "1700000122001ms", "--max-time",
                                   "1700000179999ms", self.basic), "")

    def test_match_and_time_range(self):
        sel = '{__name__=~"http_requests_total|special_values"}'
        lo, hi = 1700005000000, 1700015000000
        want = h.promtool_dump(self.basic, match=sel, min_time=lo, max_time=hi)
        self.assertTrue(want)
        got = self.dump("--match", sel, "--min-time", "%dms" % lo, "--max-time", "%dms" % hi,
                        self.basic)
        self.assertSameText(got, want, "match + time")
        got = self.dump("--format", "text", "--match", sel, "--min-time", str(lo // 1000),
                        "--max-time", str(hi // 1000), self.basic)
        self.assertSameText(got, want, "match + time, --format text")

    # -- openmetrics
    def test_openmetrics_output_reimports_to_same_data(self):
        tmp = h.mkdtemp()
        for name, src in self.sets.items():
            if name == "replica_b":
                continue  # same series as replica_a
            with self.subTest(set=name):
                om = self.dump("--format", "openmetrics", src)
                self.assertTrue(om.endswith("# EOF\n"), "OpenMetrics must end with # EOF")
                made = h.make_blocks(om, os.path.join(tmp, name))
                self.assertTrue(made)
                self.assertSameText(h.promtool_dump(made), h.promtool_dump(src), name)
        sel = '{__name__=~"label_escapes|temperature_celsius"}'
        om = self.dump("--format=openmetrics", "--match", sel, "--min-time", "1700006400000ms",
                       self.basic)
        made = h.make_blocks(om, os.path.join(tmp, "filtered"))
        self.assertSameText(h.promtool_dump(made),
                            h.promtool_dump(self.basic, match=sel, min_time=1700006400000),
                            "openmetrics with filters")

    # -- usage errors (exit 2, message on stderr, nothing on stdout)
    def test_bad_usage_exits_2(self):
        for args in (["--match", "{", self.basic],
                     ["--match", 'foo{a=~"("}', self.basic],
                     ["--min-time", "yesterday", self.basic],
                     ["--max-time", "12:00", self.basic],
                     ["--format", "json", self.basic],
                     ["--no-such-flag", self.basic]):
            with self.subTest(args=args):
                rc, out, err = h.run_promblock(["dump"] + args)
                self.assertEqual(rc, 2, "stderr: " + err)
                self.assertEqual(out, "")
                self.assertTrue(err.strip())


if __name__ == "__main__":
    h.main()
