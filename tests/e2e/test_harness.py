#!/usr/bin/env python3
"""Self-tests of the e2e oracle: the test data, the independent block reader,
the Go formatting helpers and the Prometheus server wrapper. These do not run
promblock; they make sure that what the other tests compare against is right."""

import collections
import filecmp
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

sys.path.insert(0, h.TESTDATA)
import gen_om  # noqa: E402


class TestData(unittest.TestCase):
    def test_generator_is_deterministic_and_basic_om_is_current(self):
        a, b = h.mkdtemp(), h.mkdtemp()
        h.gen_om("all", a)
        h.gen_om("all", b)
        names = sorted(os.listdir(a))
        self.assertEqual(names, ["basic.om", "long.om", "replica_a.om", "replica_b.om"])
        for n in names:
            self.assertTrue(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False), n)
        self.assertTrue(filecmp.cmp(os.path.join(a, "basic.om"),
                                    os.path.join(h.TESTDATA, "om", "basic.om"), shallow=False),
                        "om/basic.om is not what gen_om.py makes: run testdata/make_blocks.sh")

    def test_committed_blocks_match_their_sources(self):
        sets = h.committed_block_sets()
        self.assertEqual(sorted(sets), ["basic", "long", "replica_a", "replica_b", "stale"])
        tmp = h.mkdtemp()
        for name in ("basic", "long", "replica_a", "replica_b"):
            with self.subTest(set=name):
                om = h.gen_om(name, os.path.join(tmp, name + ".om"))
                made = h.make_blocks(om, os.path.join(tmp, name))
                self.assertEqual(len(made), len(h.block_dirs(sets[name])))
                self.assertEqual(h.promtool_dump(made), h.promtool_dump(sets[name]))

    def test_coverage(self):
        sets = h.committed_block_sets()
        basic = h.block_samples(h.block_dirs(sets["basic"]))
        vals = [v for s in basic.values() for _, v in s]
        floats = [h.bits_to_float(v) for v in vals]
        self.assertIn(h.NORMAL_NAN_BITS, vals)
        self.assertIn(float("inf"), floats)
        self.assertIn(float("-inf"), floats)
        self.assertIn(h.float_to_bits(-0.0), vals)
        self.assertTrue(any(f < 0 for f in floats))
        ts = [t for s in basic.values() for t, _ in s]
        self.assertTrue(any(t % 1000 for t in ts) and any(t % 1000 == 0 for t in ts))
        self.assertIn(1, [len(s) for s in basic.values()])
        names = {dict(l)["__name__"] for l in basic}
        self.assertIn("http_requests_total", names)
        self.assertIn("temperature_celsius", names)
        esc = [dict(l) for l in basic if dict(l)["__name__"] == "label_escapes"]
        self.assertTrue(any("\n" in d.get("newline", "") and "🐢" in d.get("utf8", "")
                            and '"' in d.get("quote", "") for d in esc))
        self.assertEqual(len(h.block_dirs(sets["basic"])), 3)

        long = h.block_samples(h.block_dirs(sets["long"]))
        self.assertEqual([len(s) for s in long.values()], [10000])
        self.assertEqual(len(h.block_dirs(sets["long"])), 1)

        stale = h.block_samples(h.block_dirs(sets["stale"]))
        n_stale = collections.Counter(v for s in stale.values() for _, v in s)[h.STALE_NAN_BITS]
        self.assertGreater(n_stale, 10)
        self.assertIn([(gen_om.STALE_WINDOW + 30 * 60000 + 3000 + 3600000, h.STALE_NAN_BITS)],
                      list(stale.values()))

    def test_replica_pair(self):
        sets = h.committed_block_sets()
        (a,), (b,) = h.block_dirs(sets["replica_a"]), h.block_dirs(sets["replica_b"])
        sa, sb = h.block_samples([a]), h.block_samples([b])
        self.assertEqual(len(sa), 20)
        self.assertEqual(set(sa), set(sb))
        w = gen_om.REPLICA_WINDOW
        for blk in (a, b):
            m = h.read_meta(blk)
            self.assertLessEqual(w, m["minTime"])
            self.assertLessEqual(m["maxTime"], w + h.BLOCK_RANGE_MS)
        ta = next(iter(sa.values()))
        tb = next(iter(sb.values()))
        self.assertEqual(len(ta), 480)
        self.assertEqual(len(tb), 440)  # 10 minutes = 40 scrapes missing
        gaps = [y[0] - x[0] for x, y in zip(tb, tb[1:])]
        self.assertGreater(max(gaps), 10 * 60000)
        self.assertTrue(all(14600 <= g <= 15400 for g in gaps if g < 60000))
        offs = [(t - w) % 15000 for t, _ in tb]
        self.assertTrue(all(7800 <= o <= 8200 for o in offs))


class TestReader(unittest.TestCase):
    def test_reader_reproduces_promtool_dump(self):
        for name, src in h.committed_block_sets().items():
            with self.subTest(set=name):
                got = h.dump_from_samples(h.block_samples(h.block_dirs(src)))
                self.assertEqual(got, h.promtool_dump(src))
                self.assertTrue(got)

    def test_reader_checks_crc(self):
        blk = h.copy_block(h.block_dirs(h.committed_block_sets()["basic"])[0], h.mkdtemp())
        h.read_block(blk)  # fine
        seg = os.path.join(blk, "chunks", "000001")
        with open(seg, "r+b") as f:
            f.seek(12)
            b = f.read(1)[0]
            f.seek(12)
            f.write(bytes([b ^ 0x40]))
        with self.assertRaises(h.FormatError):
            h.read_block(blk)

    def test_reader_detects_every_block_corruption_of_test_corrupt(self):
        # The damage done in test_corrupt.py is real damage (meta.json aside,
        # which this reader does not validate beyond JSON syntax).
        import test_corrupt
        orig = h.block_dirs(h.committed_block_sets()["basic"])[0]
        for name, fname, damage in test_corrupt.corruptions():
            if fname == "meta.json":
                continue
            with self.subTest(corruption=name):
                blk = h.copy_block(orig, h.mkdtemp())
                damage(blk)
                with self.assertRaises((h.FormatError, OSError)):
                    h.read_block(blk).samples()

    def test_go_formatting(self):
        cases = [(1e6, "1e+06"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
                 (0.0001, "0.0001"), (0.00001, "1e-05"), (-0.0, "-0"), (0.0, "0"),
                 (5e-324, "5e-324"), (100000.0, "100000"), (float("inf"), "+Inf"),
                 (float("-inf"), "-Inf"), (float("nan"), "NaN"), (1.5, "1.5"),
                 (-2.5e-10, "-2.5e-10"), (1e21, "1e+21"), (123456789.0, "1.23456789e+08")]
        for v, s in cases:
            self.assertEqual(h.go_format_g(v), s)
        s = 'a"b\\c\nd\te\x7ff\u00a0g\u200bh🐢ż'
        q = h.go_quote(s)
        self.assertEqual(q, '"a\\"b\\\\c\\nd\\te\\x7ff\\u00a0g\\u200bh🐢ż"')
        self.assertEqual(h.go_unquote(q), s)
        lbls = frozenset([("__name__", "x"), ("Alpha", s)])
        self.assertEqual(h.parse_labels_str(h.labels_str(lbls)), lbls)


class TestPrometheusServer(unittest.TestCase):
    def test_raw_samples_equal_block_contents(self):
        sets = h.committed_block_sets()
        blocks = [b for n, s in sets.items() if n != "replica_b" for b in h.block_dirs(s)]
        with h.PrometheusServer(blocks) as prom:
            proc, tmp = prom.proc, prom.tmp
            self.assertTrue(os.path.isdir(tmp))
            for b in blocks:
                with self.subTest(block=b):
                    m = h.read_meta(b)
                    got = h.raw_samples(prom, '{__name__=~".+"}', m["minTime"], m["maxTime"])
                    want = h.canonical_samples(h.block_samples([b]), drop_stale=True)
                    self.assertTrue(want)
                    self.assertEqual(h.canonical_samples(got), want)
            # Stale markers are not returned, the sample before one is.
            sb = h.block_dirs(sets["stale"])[0]
            m = h.read_meta(sb)
            got = h.raw_samples(prom, 'up{job="stale"}', m["minTime"], m["maxTime"])
            (vals,) = got.values()
            self.assertEqual(len(vals), 160)
            self.assertEqual(h.raw_samples(prom, "only_stale", m["minTime"], m["maxTime"]), {})
            r = prom.query("count(up)", time=h.ms_to_api_time(m["minTime"] + 600000))
            self.assertEqual(r["data"]["result"][0]["value"][1], "1")
        self.assertIsNotNone(proc.poll(), "prometheus still running after the with block")
        self.assertFalse(os.path.exists(tmp))

    def test_startup_failure_is_reported_and_cleaned_up(self):
        srv = h.PrometheusServer(extra_args=["--no-such-flag"])
        with self.assertRaises(AssertionError) as cm:
            with srv:
                pass
        self.assertIn("no-such-flag", str(cm.exception))
        self.assertIsNone(srv.proc)
        self.assertFalse(os.path.exists(srv.tmp))

    def test_run_timeout_kills(self):
        with self.assertRaises(AssertionError):
            h.run(["sleep", "30"], timeout=1)


if __name__ == "__main__":
    h.main()
