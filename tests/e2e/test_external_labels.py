"""--external-label [SOURCE:]NAME=VALUE for plain Prometheus data dirs, and
repeatable flags that take one value each (a flag never swallows sources)."""

import json
import os
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402

A = os.path.join(h.TESTDATA, "blocks", "replica_a")
B = os.path.join(h.TESTDATA, "blocks", "replica_b")


def run_ok(tc, args):
    rc, out, err = h.run_promblock(args, timeout=300)
    tc.assertEqual(rc, 0, err)
    return out


class ExternalLabelTest(unittest.TestCase):
    def setUp(self):
        self.tmp = h.mkdtemp()

    def out_metas(self, d):
        return sorted((h.read_meta(b) for b in h.block_dirs(d)), key=lambda m: m["minTime"])

    def test_merge_labels_plain_sources(self):
        out = os.path.join(self.tmp, "m")
        summary = json.loads(run_ok(self, ["merge", "--json", "--out", out,
                                           "--external-label", "cluster=eu", A, B]))
        self.assertEqual(len(summary["inputs"]), 2)
        (meta,) = self.out_metas(out)
        self.assertEqual(meta["thanos"]["labels"], {"cluster": "eu"})
        self.assertEqual(meta["thanos"]["downsample"], {"resolution": 0})
        # The samples are those of the merge without the label.
        ref = os.path.join(self.tmp, "ref")
        run_ok(self, ["merge", "--out", ref, A, B])
        self.assertEqual(h.promblock_dump(out), h.promblock_dump(ref))

    def test_per_source_labels_keep_clusters_apart(self):
        out = os.path.join(self.tmp, "c")
        run_ok(self, ["compact", "--out", out, "--consistency-delay", "0s",
                      "--external-label", A + ":cluster=eu", "--external-label", B + ":cluster=us",
                      A, B])
        metas = self.out_metas(out)
        self.assertEqual([m["thanos"]["labels"] for m in metas],
                         [{"cluster": "eu"}, {"cluster": "us"}])
        for m, src in zip(metas, (A, B)):  # copies: no dedup across clusters
            self.assertEqual(m["stats"]["numSamples"], h.read_meta(h.block_dirs(src)[0])["stats"]["numSamples"])

    def test_merge_refuses_two_clusters(self):
        rc, _, err = h.run_promblock(["merge", "--out", os.path.join(self.tmp, "x"),
                                      "--external-label", A + ":cluster=eu",
                                      "--external-label", B + ":cluster=us", A, B])
        self.assertEqual(rc, 1)
        self.assertIn("cluster", err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x")))

    def test_bad_specs_are_usage_errors(self):
        for spec in ("cluster", "cluster=", "1x=y", "__name__=y", "=y"):
            rc, _, err = h.run_promblock(["merge", "--out", os.path.join(self.tmp, "x"),
                                          "--external-label", spec, A])
            self.assertEqual(rc, 2, spec)
            self.assertIn("--external-label wants [SOURCE:]NAME=VALUE", err)
            self.assertEqual(err.count("\n"), 1, err)

    def test_repeatable_flag_takes_one_value(self):
        out = os.path.join(self.tmp, "r")
        summary = json.loads(run_ok(self, ["merge", "--json", "--out", out,
                                           "--replica-label", "replica", A, B]))
        self.assertEqual(len(summary["inputs"]), 2, "the sources were taken as replica labels")
        text = run_ok(self, ["dump", "--match", "go_goroutines", "--match",
                             '{__name__="node_load1"}', A])
        names = {line.split('"')[1] for line in text.splitlines()}
        self.assertEqual(names, {"go_goroutines", "node_load1"})


if __name__ == "__main__":
    unittest.main()
