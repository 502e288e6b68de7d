#!/usr/bin/env python3
"""Block writer + XOR encoder round trip, checked against Prometheus.

`<build>/tests/roundtrip_block SRC_BLOCK_DIR OUT_PARENT_DIR` reads a block,
re-encodes every chunk with promblock's XOR encoder, writes a new block into
OUT_PARENT_DIR/<new ULID>/ and prints that path. For every committed block:
  - the output is one new, complete block dir with a fresh ULID;
  - promtool tsdb dump of it equals that of the original;
  - meta.json stats equal the original's and its time range covers the data;
  - every sample's exact 64-bit value (stale markers, NaN payloads) and
    timestamp are kept, and all CRCs verify (read by harness.Block -- Prometheus
    itself does not check chunk CRCs on read);
  - series, labels, symbols and postings keys equal the original's; each chunk
    has the original's time range and bytes (a Prometheus-made chunk may carry
    one extra trailing zero byte of padding; nothing else may differ);
  - a real Prometheus serving only the new blocks returns, through its query
    API, exactly the original raw samples (stale markers left out, as always).
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class RoundtripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sets = h.committed_block_sets()
        cls.pairs = []     # (set name, original block, our block, out parent)
        cls.failures = []  # roundtrip_block runs that failed
        for name, src in cls.sets.items():
            for orig in h.block_dirs(src):
                parent = h.mkdtemp()
                rc, out, err = h.run_roundtrip(orig, parent)
                path = out.strip()
                if rc != 0 or not path:
                    cls.failures.append("%s: rc %d, stdout %r, stderr %s" % (orig, rc, out, err[-1000:]))
                    continue
                cls.pairs.append((name, orig, path, parent))

    def setUp(self):
        self.assertEqual(self.failures, [], "roundtrip_block failed")
        self.assertEqual(len(self.pairs), len(h.all_committed_blocks()))

    def test_output_is_one_new_complete_block(self):
        for name, orig, ours, parent in self.pairs:
            with self.subTest(block=orig):
                self.assertTrue(os.path.isdir(ours), ours)
                self.assertTrue(os.path.samefile(os.path.dirname(os.path.abspath(ours)), parent))
                ulid = os.path.basename(os.path.normpath(ours))
                self.assertTrue(h.is_ulid(ulid), ulid)
                self.assertNotEqual(ulid, os.path.basename(orig))
                self.assertEqual(os.listdir(parent), [ulid], "leftovers in the output dir")
                for f in ("meta.json", "index", os.path.join("chunks", "000001")):
                    self.assertTrue(os.path.isfile(os.path.join(ours, f)), f)
                self.assertEqual(h.read_meta(ours)["ulid"], ulid)

    def test_promtool_dump_equal(self):
        for name, orig, ours, parent in self.pairs:
            with self.subTest(block=orig):
                want = h.promtool_dump(orig)
                self.assertTrue(want)
                self.assertEqual(h.promtool_dump(ours), want)

    def test_meta(self):
        for name, orig, ours, parent in self.pairs:
            with self.subTest(block=orig):
                mo, mn = h.read_meta(orig), h.read_meta(ours)
                # Prometheus 3.6+ (and we) also count floats and histograms apart.
                split = ("numFloatSamples", "numHistogramSamples")
                self.assertEqual({k: v for k, v in mn["stats"].items() if k not in split},
                                 mo["stats"])
                self.assertEqual(sum(mn["stats"].get(k, 0) for k in split),
                                 mo["stats"]["numSamples"])
                self.assertEqual(mn["version"], 1)
                samples = h.read_block(ours).samples()
                first = min(s[0][0] for s in samples.values())
                last = max(s[-1][0] for s in samples.values())
                self.assertLessEqual(mn["minTime"], first)
                self.assertGreater(mn["maxTime"], last)

    def test_exact_samples_and_checksums(self):
        for name, orig, ours, parent in self.pairs:
            with self.subTest(block=orig):
                want = h.read_block(orig).samples()
                got = h.read_block(ours, verify=True).samples()   # raises on any bad CRC
                self.assertEqual(set(got), set(want))
                for lbls in want:
                    if got[lbls] != want[lbls]:
                        bad = next(i for i, (a, b) in enumerate(zip(got[lbls], want[lbls]))
                                   if a != b) if len(got[lbls]) == len(want[lbls]) else None
                        self.fail("%s: samples differ (%d vs %d samples, first diff at %s)" %
                                  (h.labels_str(lbls), len(got[lbls]), len(want[lbls]), bad))

    def test_index_and_chunk_bytes(self):
        for name, orig, ours, parent in self.pairs:
            with self.subTest(block=orig):
                bo, bn = h.read_block(orig), h.read_block(ours)
                self.assertEqual(bn.symbols, bo.symbols)
                self.assertEqual([(n, v) for n, v, _ in bn.postings_offsets],
                                 [(n, v) for n, v, _ in bo.postings_offsets])
                self.assertEqual([l for l, _ in bn.series], [l for l, _ in bo.series])
                for (lbls, co), (_, cn) in zip(bo.series, bn.series):
                    self.assertEqual([(c.mint, c.maxt) for c in cn], [(c.mint, c.maxt) for c in co],
                                     h.labels_str(lbls))
                    for a, b in zip(co, cn):
                        self.assertEqual(b.encoding, 1)
                        if a.data == b.data + b"\x00":
                            continue
                        self.assertEqual(b.data, a.data, "chunk %d..%d of %s" %
                                         (a.mint, a.maxt, h.labels_str(lbls)))

    def test_prometheus_serves_original_samples(self):
        # replica_a and replica_b overlap (same series, same window): two servers.
        groups = [[p for p in self.pairs if p[0] != "replica_b"],
                  [p for p in self.pairs if p[0] == "replica_b"]]
        for group in groups:
            self.assertTrue(group)
            with h.PrometheusServer([ours for _, _, ours, _ in group]) as prom:
                for name, orig, ours, parent in group:
                    with self.subTest(block=orig):
                        m = h.read_meta(orig)
                        want = h.canonical_samples(h.read_block(orig).samples(), drop_stale=True)
                        self.assertTrue(want)
                        got = h.raw_samples(prom, '{__name__=~".+"}', m["minTime"], m["maxTime"])
                        self.assertEqual(h.canonical_samples(got), want)


if __name__ == "__main__":
    h.main()
