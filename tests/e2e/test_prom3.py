#!/usr/bin/env python3
"""Blocks of Prometheus 3.x: the 3.7+ index layout, index version
byte 3, meta.json stats and compaction hints.

Inputs: testdata/prom3/ (made by its make_fixtures.py from the committed 2.42
blocks, each file changed exactly as 3.14 writes it): replica_b is the real
HA pair's replica b, basic_v3 the promtool-made basic set with version byte 3.
Oracles: `promtool tsdb dump` of the 2.42 originals (the data did not
change, only its layout), promblock's own results on the originals, the
harness's independent block reader, and a real Prometheus 2.42 serving our
output.

  ReadTest      ls, dump (== promtool on the originals), verify --deep clean
                (no label indices is no fault), analyze.
  MergeTest     chain and penalty merges of the 2.42 replica a with the 3.14
                replica b equal those of the two 2.42 replicas; the output's
                index is in the 3.7+ layout with version byte 2 and its
                meta.json has numFloatSamples; a real Prometheus 2.42 serving
                it answers raw queries with the merged samples.
  OtherCommandsTest  compact, rewrite, backup | restore on 3.x blocks.
  Xor2Test      a real replica block whose chunks are XOR2 (encoding 4, start
                timestamps on counters; written by roundtrip_block --st-encodings with
                our encoder, byte-exact with Prometheus's appender on the
                Go-made fixtures of tests/fixtures/chunks_xor2): the
                independent reference decoder (tests/reference/xor2_ref.py)
                reads every chunk back to the original samples and start
                timestamps; ls, dump (== promtool on the original), verify
                --deep, analyze.
  Xor2MergeTest two real replicas in XOR2 (and one XOR2 with one XOR replica)
                merged with chain and penalty: dump equals the merge of the
                XOR originals; every output sample's (t, value, start
                timestamp), read by the reference decoder, is one of an
                input's; re-encoded chunks are XOR2 where their samples come
                from XOR2 (at most 120 samples); --legacy-chunk-encodings
                writes only XOR chunks with the same samples.
  HistogramStMergeTest  the real native-histogram HA pair in encodings 5/6
                (and 4): chain and penalty merges dump like the merge of the
                originals; every output histogram sample's (t, st) and
                counts, read by the independent reference decoder
                (tests/reference/histogram_ref.py), are an input's; output
                chunks keep 5/6; --legacy-chunk-encodings writes 1-3 only,
                which promtool 2.42 reads.
  HintsTest     merged hints as Prometheus 3.14 sets them; merge refuses to
                mix a from-stale-series block with ordinary ones; compact
                plans them apart.
"""

import json
import os
import shutil
import struct
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import histogram_ref  # noqa: E402
import xor2_ref  # noqa: E402

PROM3 = os.path.join(h.TESTDATA, "prom3")
REAL = os.path.join(h.TESTDATA, "realworld")
BASIC = os.path.join(h.TESTDATA, "blocks", "basic")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def toc_of(block):
    data = read_bytes(os.path.join(block, "index"))
    return data[4], struct.unpack(">6Q", data[-52:-4])


def promblock_ok(tc, args, timeout=300):
    rc, out, err = h.run_promblock(args, timeout=timeout)
    tc.assertEqual(rc, 0, "promblock %s: %s" % (" ".join(args), err[-2000:]))
    return out


def merge_one(tc, dedup, inputs, *extra):
    """The one block `promblock merge` makes of `inputs`."""
    out = h.mkdtemp()
    promblock_ok(tc, ["merge", "--dedup", dedup, "--out", out] + list(extra) + list(inputs))
    return merged_block(tc, out)


def merged_block(tc, out_dir):
    blocks = h.block_dirs(out_dir)
    tc.assertEqual(len(blocks), 1, blocks)
    return blocks[0]


class ReadTest(unittest.TestCase):
    def test_fixtures_are_in_the_prom3_layout(self):
        for name, version in (("replica_b", 2), ("basic_v3", 3)):
            blocks = h.block_dirs(os.path.join(PROM3, name))
            self.assertTrue(blocks)
            for b in blocks:
                v, (sym, series, li, lot, post, pot) = toc_of(b)
                self.assertEqual(v, version)
                self.assertEqual(li, post)
                self.assertEqual(lot, pot)
                self.assertIn("numFloatSamples", h.read_meta(b)["stats"])

    def test_ls_matches_the_originals(self):
        for name, orig in (("replica_b", os.path.join(REAL, "replica_b")), ("basic_v3", BASIC)):
            ours = json.loads("[" + ",".join(promblock_ok(self, ["ls", "--json", os.path.join(PROM3, name)]).split("\n")[:-1]) + "]")
            want = json.loads("[" + ",".join(promblock_ok(self, ["ls", "--json", orig]).split("\n")[:-1]) + "]")
            strip = lambda rows: [{k: v for k, v in r.items() if k not in ("path", "size_bytes")} for r in rows]
            self.assertEqual(strip(ours), strip(want))

    def test_dump_equals_promtool_on_the_originals(self):
        for name, orig in (("replica_b", os.path.join(REAL, "replica_b")), ("basic_v3", BASIC)):
            with self.subTest(set=name):
                want = h.promtool_dump(orig)
                self.assertTrue(want)
                self.assertEqual(promblock_ok(self, ["dump", os.path.join(PROM3, name)]), want)

    def test_verify_deep_is_clean(self):
        for name in ("replica_b", "basic_v3"):
            out = promblock_ok(self, ["verify", "--deep", os.path.join(PROM3, name)])
            self.assertNotIn("error", out.lower())

    def test_verify_still_checks_label_indices_of_2x_blocks(self):
        # A 2.42 block whose first label index is damaged: found, exit 1.
        d = h.mkdtemp()
        blk = h.copy_block(h.block_dirs(BASIC)[0], d)
        path = os.path.join(blk, "index")
        data = bytearray(read_bytes(path))
        li = struct.unpack(">6Q", data[-52:-4])[2]
        start = (li + 3) // 4 * 4
        data[start + 12] ^= 0x40  # inside the first label index's entries
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = h.run_promblock(["verify", blk])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("label index of", out)

    def test_analyze_reads_them(self):
        out = promblock_ok(self, ["analyze", "--json", os.path.join(PROM3, "replica_b")])
        self.assertTrue(out.strip())


class MergeTest(unittest.TestCase):
    def merge(self, dedup, a, b):
        out = h.mkdtemp()
        promblock_ok(self, ["merge", "--dedup", dedup, "--out", out] + a + b)
        return merged_block(self, out)

    def test_mixed_layout_replicas_merge_like_2x_ones(self):
        a = h.block_dirs(os.path.join(REAL, "replica_a"))[:2]
        b2 = h.block_dirs(os.path.join(REAL, "replica_b"))[:2]
        b3 = [os.path.join(PROM3, "replica_b", os.path.basename(x)) for x in b2]
        for dedup in ("chain", "penalty"):
            with self.subTest(dedup=dedup):
                want = self.merge(dedup, a, b2)
                got = self.merge(dedup, a, b3)
                self.assertEqual(h.promtool_dump(got), h.promtool_dump(want))
                self.assertEqual(read_bytes(os.path.join(got, "index")),
                                 read_bytes(os.path.join(want, "index")))
                version, (_, _, li, lot, post, pot) = toc_of(got)
                self.assertEqual((version, li, lot), (2, post, pot))
                stats = h.read_meta(got)["stats"]
                self.assertEqual(stats["numFloatSamples"], stats["numSamples"])
                self.assertNotIn("numHistogramSamples", stats)
                if dedup == "chain":
                    self.check_prometheus_serves(got)

    def check_prometheus_serves(self, block):
        m = h.read_meta(block)
        want = h.canonical_samples(h.read_block(block).samples(), drop_stale=True)
        self.assertTrue(want)
        with h.PrometheusServer([block]) as prom:
            got = h.raw_samples(prom, '{__name__=~".+"}', m["minTime"], m["maxTime"])
        self.assertEqual(h.canonical_samples(got), want)


class OtherCommandsTest(unittest.TestCase):
    def test_compact_of_mixed_layouts(self):
        out = h.mkdtemp()
        promblock_ok(self, ["compact", "--consistency-delay", "0s", "--out", out,
                            os.path.join(REAL, "replica_a"), os.path.join(PROM3, "replica_b")])
        blocks = h.block_dirs(out)
        self.assertTrue(blocks)
        ref = h.mkdtemp()
        promblock_ok(self, ["compact", "--consistency-delay", "0s", "--out", ref,
                            os.path.join(REAL, "replica_a"), os.path.join(REAL, "replica_b")])
        self.assertEqual(promblock_ok(self, ["dump", out]), promblock_ok(self, ["dump", ref]))

    def test_rewrite(self):
        blk = h.block_dirs(os.path.join(PROM3, "basic_v3"))[0]
        out = h.mkdtemp()
        promblock_ok(self, ["rewrite", "--out", out, "--drop-label", "instance", blk])
        new = merged_block(self, out)
        self.assertEqual(toc_of(new)[0], 2)  # we write version 2, as 3.14 does
        self.assertTrue(h.promtool_dump(new))
        promblock_ok(self, ["verify", "--deep", new])

    def test_backup_restore(self):
        src = os.path.join(PROM3, "basic_v3")
        archive = os.path.join(h.mkdtemp(), "b.tar.zst")
        rc, _, err = h.run(["sh", "-c", '"$0" backup "$1" > "$2"', h.BIN, src, archive])
        self.assertEqual(rc, 0, err)
        into = h.mkdtemp()
        promblock_ok(self, ["restore", "--into", into, archive])
        for b in h.block_dirs(src):
            r = os.path.join(into, os.path.basename(b))
            for f in ("index", "meta.json", os.path.join("chunks", "000001")):
                self.assertEqual(read_bytes(os.path.join(r, f)),
                                 read_bytes(os.path.join(b, f)), f)


class Xor2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.orig = h.block_dirs(os.path.join(REAL, "replica_b"))[0]
        cls.parent = h.mkdtemp()
        rc, out, err = h.run([os.path.join(h.BUILD, "tests", "roundtrip_block"), "--st-encodings",
                              cls.orig, cls.parent])
        assert rc == 0, err
        cls.block = out.strip()

    def test_reference_decoder_reads_the_original_samples(self):
        want, got = h.read_block(self.orig), h.read_block(self.block)
        self.assertEqual([l for l, _ in got.series], [l for l, _ in want.series])
        counters = 0
        for (lbls, co), (_, cn) in zip(want.series, got.series):
            name = dict(lbls).get("__name__", "")
            first_t = co[0].samples()[0][0]
            for a, b in zip(co, cn):
                self.assertEqual(b.encoding, 4)
                samples = xor2_ref.decode(b.data)
                self.assertEqual([(t, v) for t, v, _ in samples], a.samples())
                sts = {st for _, _, st in samples}
                self.assertEqual(sts, {first_t - 1000} if name.endswith("_total") else {0})
            counters += name.endswith("_total")
        self.assertGreater(counters, 0)

    def test_dump_ls_verify_analyze(self):
        self.assertEqual(promblock_ok(self, ["dump", self.block]), h.promtool_dump(self.orig))
        out = promblock_ok(self, ["verify", "--deep", "--json", self.block])
        self.assertNotIn('"severity":"error"', out.replace(" ", ""))
        stats = h.read_meta(self.block)["stats"]
        self.assertEqual(stats["numFloatSamples"], stats["numSamples"])
        row = json.loads(promblock_ok(self, ["ls", "--json", self.block]).split("\n")[0])
        self.assertEqual(row["num_samples"], stats["numSamples"])
        self.assertTrue(promblock_ok(self, ["analyze", self.block]))

    def test_verify_deep_finds_a_damaged_xor2_chunk(self):
        d = h.mkdtemp()
        blk = h.copy_block(self.block, d)
        seg = os.path.join(blk, "chunks", "000001")
        data = bytearray(read_bytes(seg))
        data[8 + 2 + 1 + 3] ^= 0x10  # first chunk: after len, encoding, 3-byte header
        with open(seg, "wb") as f:
            f.write(data)
        rc, out, err = h.run_promblock(["verify", "--deep", blk])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("checksum mismatch", out)



def xor2_copy(block):
    parent = h.mkdtemp()
    rc, out, err = h.run([os.path.join(h.BUILD, "tests", "roundtrip_block"), "--st-encodings", block, parent])
    assert rc == 0, err
    return out.strip()


def triples(block):
    """{labels: {(t, value bits, st)}} of a block, chunks of encoding 1 and 4
    read by independent decoders (the harness's XOR, the XOR2 reference)."""
    out = {}
    for lbls, chunks in h.read_block(block).series:
        got = out.setdefault(lbls, set())
        for c in chunks:
            if c.encoding == 4:
                got.update(xor2_ref.decode(c.data))
            else:
                got.update((t, v, 0) for t, v in c.samples())
    return out


class Xor2MergeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.block_dirs(os.path.join(REAL, "replica_a"))[1]
        cls.b = h.block_dirs(os.path.join(REAL, "replica_b"))[1]
        cls.a2, cls.b2 = xor2_copy(cls.a), xor2_copy(cls.b)

    def merge(self, dedup, inputs, *extra):
        return merge_one(self, dedup, inputs, *extra)

    def test_xor2_replicas(self):
        for dedup in ("chain", "penalty"):
            for inputs in ([self.a2, self.b2], [self.a, self.b2]):
                with self.subTest(dedup=dedup, inputs=inputs):
                    want = self.merge(dedup, [self.a, self.b])
                    got = self.merge(dedup, inputs)
                    self.assertEqual(promblock_ok(self, ["dump", got]),
                                     promblock_ok(self, ["dump", want]))
                    promblock_ok(self, ["verify", "--deep", got])
                    have = {}
                    for blk in inputs:
                        for lbls, t in triples(blk).items():
                            have.setdefault(lbls, set()).update(t)
                    out = triples(got)
                    for lbls, ts in out.items():
                        self.assertLessEqual(ts, have[lbls], h.labels_str(lbls))
                    starts = sum(1 for ts in out.values() for x in ts if x[2] != 0)
                    if inputs == [self.a2, self.b2]:  # (penalty may follow the XOR replica)
                        self.assertGreater(starts, 0)
                    encodings = set()
                    for lbls, chunks in h.read_block(got).series:
                        for c in chunks:
                            encodings.add(c.encoding)
                            if c.encoding == 4:
                                self.assertLessEqual(len(xor2_ref.decode(c.data)), 120)
                    self.assertIn(4, encodings)
                    stats = h.read_meta(got)["stats"]
                    self.assertEqual(stats["numFloatSamples"], stats["numSamples"])

    def test_legacy_chunk_encodings(self):
        for dedup in ("chain", "penalty"):
            with self.subTest(dedup=dedup):
                want = self.merge(dedup, [self.a, self.b])
                got = self.merge(dedup, [self.a2, self.b2], "--legacy-chunk-encodings")
                self.assertEqual(promblock_ok(self, ["dump", got]),
                                 promblock_ok(self, ["dump", want]))
                encodings = {c.encoding for _, cs in h.read_block(got).series for c in cs}
                self.assertEqual(encodings, {1})
                # Readable by a real Prometheus 2.42, which knows no XOR2.
                self.assertEqual(h.promtool_dump(got), promblock_ok(self, ["dump", want]))

    def test_compact_keeps_xor2(self):
        src = h.mkdtemp()
        for blk in (self.a2, self.b2):
            shutil.copytree(blk, os.path.join(src, os.path.basename(blk)))
        out = h.mkdtemp()
        promblock_ok(self, ["compact", "--consistency-delay", "0s", "--out", out, src])
        blocks = h.block_dirs(out)
        self.assertEqual(len(blocks), 1)
        encodings = {c.encoding for _, cs in h.read_block(blocks[0]).series for c in cs}
        self.assertEqual(encodings, {4})


def hist_samples(block):
    """{labels: {(t, st, counts)}} of a block's histogram chunks, read by the
    reference decoder."""
    out = {}
    for lbls, chunks in h.read_block(block).series:
        got = out.setdefault(lbls, set())
        for c in chunks:
            if c.encoding in (2, 3, 5, 6):
                for smp in histogram_ref.decode(c.encoding, c.data)["samples"]:
                    hh = smp["h"]
                    got.add((smp["t"], smp["st"], hh["sum_bits"], repr(hh.get("count")),
                             repr(hh.get("pos")), repr(hh.get("neg"))))
    return out


class HistogramStMergeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        hist = os.path.join(h.TESTDATA, "histograms")
        cls.a = h.block_dirs(os.path.join(hist, "replica_a"))[0]
        cls.b = h.block_dirs(os.path.join(hist, "replica_b"))[0]
        cls.a5, cls.b5 = xor2_copy(cls.a), xor2_copy(cls.b)

    def merge(self, dedup, inputs, *extra):
        return merge_one(self, dedup, inputs, *extra)

    def test_st_histograms_merge(self):
        encs = {c.encoding for _, cs in h.read_block(self.a5).series for c in cs}
        self.assertEqual(encs, {4, 5, 6})
        for dedup in ("chain", "penalty"):
            with self.subTest(dedup=dedup):
                want = self.merge(dedup, [self.a, self.b])
                got = self.merge(dedup, [self.a5, self.b5])
                self.assertEqual(promblock_ok(self, ["dump", got]),
                                 promblock_ok(self, ["dump", want]))
                promblock_ok(self, ["verify", "--deep", got])
                have = hist_samples(self.a5)
                for lbls, ss in hist_samples(self.b5).items():
                    have.setdefault(lbls, set()).update(ss)
                out = hist_samples(got)
                self.assertTrue(any(out.values()))
                for lbls, ss in out.items():
                    self.assertLessEqual(ss, have[lbls], h.labels_str(lbls))
                    self.assertTrue(all(x[1] != 0 for x in ss))
                encs = {c.encoding for _, cs in h.read_block(got).series for c in cs}
                self.assertEqual(encs, {4, 5, 6})
                stats = h.read_meta(got)["stats"]
                self.assertEqual(stats["numFloatSamples"] + stats["numHistogramSamples"],
                                 stats["numSamples"])
                self.assertGreater(stats["numHistogramSamples"], 0)

    def test_legacy(self):
        for dedup in ("chain", "penalty"):
            with self.subTest(dedup=dedup):
                want = self.merge(dedup, [self.a, self.b])
                got = self.merge(dedup, [self.a5, self.b5], "--legacy-chunk-encodings")
                self.assertEqual({c.encoding for _, cs in h.read_block(got).series for c in cs},
                                 {1, 2, 3})
                self.assertEqual(promblock_ok(self, ["dump", got]),
                                 promblock_ok(self, ["dump", want]))
                # promtool 2.42 reads it (its dump shows the float series only).
                self.assertEqual(h.promtool_dump(got), h.promtool_dump(want))


def with_hints(block, parent, hints):
    dst = h.copy_block(block, parent)
    meta_path = os.path.join(dst, "meta.json")
    with open(meta_path) as f:
        m = json.load(f)
    m["compaction"]["hints"] = hints
    with open(meta_path, "w") as f:
        f.write(json.dumps(m, indent="\t"))
    return dst


class HintsTest(unittest.TestCase):
    def setUp(self):
        self.a = h.block_dirs(os.path.join(REAL, "replica_a"))[0]
        self.b = h.block_dirs(os.path.join(PROM3, "replica_b"))[0]

    def test_merged_hints(self):
        d = h.mkdtemp()
        cases = [
            (["from-out-of-order"], ["from-out-of-order"], ["from-out-of-order"]),
            (["from-out-of-order"], [], None),
            (["from-stale-series"], ["from-out-of-order", "from-stale-series"], ["from-stale-series"]),
        ]
        for i, (ha, hb, want) in enumerate(cases):
            with self.subTest(case=i):
                a = with_hints(self.a, h.mkdtemp(), ha)
                b = with_hints(self.b, h.mkdtemp(), hb)
                out = os.path.join(d, str(i))
                promblock_ok(self, ["merge", "--out", out, a, b])
                got = h.read_meta(merged_block(self, out))["compaction"].get("hints")
                self.assertEqual(got, want)

    def test_merge_refuses_to_mix_classes(self):
        a = with_hints(self.a, h.mkdtemp(), ["from-stale-series"])
        out = h.mkdtemp()
        rc, _, err = h.run_promblock(["merge", "--out", out, a, self.b])
        self.assertEqual(rc, 1)
        self.assertIn("from-stale-series", err)
        self.assertEqual(len(err.strip().split("\n")), 1, err)
        self.assertEqual(h.block_dirs(out), [])

    def test_compact_plans_classes_apart(self):
        src = h.mkdtemp()
        stale = with_hints(self.a, src, ["from-stale-series"])
        shutil.copytree(self.b, os.path.join(src, os.path.basename(self.b)))
        out = h.mkdtemp()
        promblock_ok(self, ["compact", "--consistency-delay", "0s", "--out", out, src])
        metas = [h.read_meta(b) for b in h.block_dirs(out)]
        self.assertEqual(len(metas), 2, metas)
        kinds = sorted(tuple(m["compaction"].get("hints", [])) for m in metas)
        self.assertEqual(kinds, [(), ("from-stale-series",)])
        self.assertIn(os.path.basename(stale), [s for m in metas for s in m["compaction"]["sources"]])


if __name__ == "__main__":
    h.main()
