#!/usr/bin/env python3
"""promblock merge: vertical merge of HA-replica blocks with deduplication.

The command (contract in promblock-merge(1)):
  promblock merge --out DIR [--replica-label L]... [--dedup penalty|chain|none] [--json] INPUT...
writes ONE new block into DIR covering all inputs. Oracles:
  - chain: a real Prometheus 2.42 that vertically compacts copies of the same
    input blocks (its compaction loop picks overlapping blocks up about a minute
    after start); both servers (2 and 3 replicas) start in setUpModule and
    compact while the other tests run. `promtool tsdb dump` of both outputs
    must be equal.
  - penalty / chain tie-breaking / none: penalty_ref.py, an independent Python
    implementation fed by `promtool tsdb dump` of each input block (or by the
    harness block reader's exact bits where stale markers matter).
  - loading: a real Prometheus serving our output, next to one serving a block
    that promtool made from the reference samples: same series count, same
    series, same rate() range query results.
Every successful merge is also checked structurally (check_block): CRCs, sorted
series and labels, chunk ranges inside the block and not overlapping, chunk
mint/maxt = first/last sample, re-encoded chunks (bytes not found among the
inputs' chunks) at most 120 samples, meta.json stats and time range exact,
--out holds exactly one new block and no leftovers; and the --json summary is
checked against the blocks (check_summary).

Tests:
  PenaltyTest       replica label as a series label / Thanos external label /
                    absent (one source per replica, default mode), three
                    replicas (fold order by label value or by argument order),
                    equal timestamps, stale markers (exact bits), thanos.labels.
  ChainTest         equal timestamps: the replica ordered first wins (label
                    value / argument order); stale markers kept with their bits.
  NoneModeTest      replicas kept apart == chain merge with replica labels in
                    place; replica labels from external labels added to series.
  ShapesTest        series in one replica only, disjoint label sets, and
                    non-overlapping inputs (two consecutive 2h blocks): all
                    samples kept, untouched chunks copied byte for byte
                    (summary: chunks_copied == chunks_in, chunks_reencoded == 0);
                    the same two blocks as two INPUTs (two replicas): chain keeps
                    all, penalty drops what the algorithm drops at the junction;
                    tombstones written by a real Prometheus (admin API) applied.
  MetaTest          level, sources, parents, stats, thanos section and files,
                    "deduped" external label, --out created, human summary,
                    stale tmp dirs of an earlier run removed.
  ExitCodeTest      2 on bad usage; 1 on a missing input (only tmp dirs in
                    --out) and on external labels that differ beyond replica
                    labels (--out unchanged); 75 while DIR/.promblock.lock is held.
  PrometheusLoadTest  the output loads and answers like the reference block.
  ChainVsPrometheusTest  (slow: waits for the Prometheus compactions) 2 and 3
                    replicas, chain == Prometheus's vertical compaction.
"""

import fcntl
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import merge_data as md  # noqa: E402
import penalty_ref as ref  # noqa: E402

SUMMARY_FIELDS = ("ulid", "path", "dedup", "inputs", "series_in", "series_out", "samples_in",
                  "samples_out", "chunks_in", "chunks_out", "chunks_copied", "chunks_reencoded",
                  "seconds")
LOCK_FILE = ".promblock.lock"
TMP_SUFFIX = ".tmp-for-creation"
MAX_CHUNK_SAMPLES = 120
ORACLE_TIMEOUT = 180  # s from server start; Prometheus compacts ~60 s after start

# ---------------------------------------------------------------- input data


class Data:
    """All input sources, built once per process (promtool blocks are cached
    under $PROMBLOCK_BUILD/e2e-cache)."""
    _built = None

    @classmethod
    def get(cls):
        if cls._built is None:
            cls._built = cls()
        return cls._built

    def __init__(self):
        sets = h.committed_block_sets()
        B = md.blocks_from_om
        self.A, self.B, self.STALE = sets["replica_a"], sets["replica_b"], sets["stale"]
        self.C = B("replica_c", md.replica_om("c"))
        # replica label as a series label (same samples as A, B, C; A_GAP: a without 55-65m)
        self.LA = B("lab_replica_a", md.labelled_replica_om("a"))
        self.LB = B("lab_replica_b", md.labelled_replica_om("b"))
        self.LC = B("lab_replica_c", md.labelled_replica_om("c"))
        self.LA_GAP = B("lab_replica_a_gap", md.labelled_replica_om("a_gap", value="a"))
        self.R = {x: B("rules_" + x, md.rules_om(x)) for x in "abc"}
        self.RL = {x: B("lab_rules_" + x, md.rules_om(x, label="replica")) for x in "ab"}
        self.D = {x: B("disjoint_" + x, md.disjoint_om(x)) for x in "ab"}
        self.DL = {x: B("lab_disjoint_" + x, md.disjoint_om(x, label="replica")) for x in "ab"}
        self.TWO = B("two_blocks", md.two_blocks_om())
        self.SP = B("stale_partner", md.stale_partner_om(h.block_dirs(self.STALE)[0]))
        self.tmp = h.mkdtemp(prefix="promblock-merge-inputs-")
        # replica label as a Thanos external label (copies of the promtool blocks)
        self.XA = md.with_external_labels(self.A, {"replica": "a", "cluster": "x"}, self.tmp)
        self.XB = md.with_external_labels(self.B, {"replica": "b", "cluster": "x"}, self.tmp)
        self.XR = {x: md.with_external_labels(self.R[x], {"replica": x, "cluster": "x"}, self.tmp)
                   for x in "abc"}
        if len(h.block_dirs(self.TWO)) != 2:
            raise AssertionError("two_blocks should make two blocks: %s" % h.block_dirs(self.TWO))


# ---------------------------------------------------------------- Prometheus compaction oracle

_STOP = threading.Event()


class CompactionOracle:
    """A Prometheus server on copies of `blocks`, in a thread, until it has
    vertically compacted them into one block (level 2, parents = the inputs),
    which is copied out."""

    def __init__(self, name, blocks):
        self.name, self.blocks = name, list(blocks)
        self.inputs = {os.path.basename(b) for b in self.blocks}
        self.outdir = h.mkdtemp(prefix="promblock-oracle-%s-" % name)
        self.block = self.error = self.seconds = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="oracle-" + name, daemon=True)
        self.thread.start()

    def _find(self, data_dir):
        for b in h.block_dirs(data_dir):
            try:
                m = h.read_meta(b)
            except (OSError, ValueError):
                continue
            c = m.get("compaction", {})
            if c.get("level", 1) >= 2 and {p["ulid"] for p in c.get("parents", [])} == self.inputs:
                return b
        return None

    def _run(self):
        t0 = time.monotonic()
        try:
            with h.PrometheusServer(self.blocks) as prom:
                while True:
                    found = self._find(prom.data_dir)
                    if found:
                        self.block = h.copy_block(found, self.outdir)
                        self.seconds = time.monotonic() - t0
                        return
                    if prom.proc.poll() is not None:
                        raise AssertionError("prometheus exited (%s):\n%s" %
                                             (prom.proc.returncode, prom.log()))
                    if time.monotonic() - t0 > ORACLE_TIMEOUT:
                        raise AssertionError("prometheus did not compact %s within %ds; blocks: %s\n%s"
                                             % (sorted(self.inputs), ORACLE_TIMEOUT,
                                                os.listdir(prom.data_dir), prom.log()))
                    if _STOP.wait(0.5):
                        raise AssertionError("stopped")
        except BaseException as e:  # reported by result()
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.done.set()

    def result(self):
        self.done.wait(ORACLE_TIMEOUT + 60)
        if not self.done.is_set():
            raise AssertionError("oracle %s still running" % self.name)
        if self.error:
            raise AssertionError("oracle %s: %s" % (self.name, self.error))
        return self.block


ORACLES = {}


def setUpModule():
    # The oracles first (only the committed sets and replica_c), the rest after.
    sets = h.committed_block_sets()
    blocks2 = h.block_dirs(sets["replica_a"]) + h.block_dirs(sets["replica_b"])
    ORACLES["two"] = CompactionOracle("two", blocks2)
    c = md.blocks_from_om("replica_c", md.replica_om("c"))
    ORACLES["three"] = CompactionOracle("three", blocks2 + h.block_dirs(c))
    Data.get()


def tearDownModule():
    _STOP.set()
    for o in ORACLES.values():
        o.thread.join(30)


# ---------------------------------------------------------------- checks

_INPUT_CACHE = {}


def _input_block(path):
    key = os.path.realpath(path)
    if key not in _INPUT_CACHE:
        _INPUT_CACHE[key] = h.read_block(path)
    return _INPUT_CACHE[key]


def input_blocks_of(inputs):
    out = []
    for src in inputs:
        bs = h.block_dirs(src)
        if not bs:
            raise AssertionError("no blocks in %s" % src)
        out += bs
    return out


def series_labels(samples):
    return {name for lbls in samples for name, _ in lbls}


class Merged:
    def __init__(self, block, out, summary, stdout, stderr, info, inputs):
        self.block, self.out, self.summary = block, out, summary
        self.stdout, self.stderr, self.info, self.inputs = stdout, stderr, info, inputs
        self.meta = h.read_meta(block)


class MergeTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.d = Data.get()

    # -- running
    def new_out(self):
        return os.path.join(h.mkdtemp(prefix="promblock-merge-out-"), "out")

    def merge_args(self, out, inputs, replica_labels=(), dedup=None, json_out=True):
        args = ["merge", "--out", out]
        for l in replica_labels:
            args += ["--replica-label", l]
        if dedup is not None:
            args += ["--dedup", dedup]
        if json_out:
            args.append("--json")
        return args + list(inputs)

    def merge(self, inputs, replica_labels=(), dedup=None, out=None, json_out=True):
        """Runs a merge that must succeed; checks --out, the block and the summary."""
        out = out or self.new_out()
        before = set(os.listdir(out)) if os.path.isdir(out) else set()
        args = self.merge_args(out, inputs, replica_labels, dedup, json_out)
        rc, so, se = h.run_promblock(args, timeout=300)
        self.assertEqual(rc, 0, "promblock %s\nexit %d\nstderr: %s" % (" ".join(args), rc, se[-3000:]))
        after = set(os.listdir(out))
        self.assertLessEqual(before, after, "merge removed entries from --out")
        new = after - before
        new_blocks = sorted(n for n in new if h.is_block_dir(os.path.join(out, n)))
        self.assertEqual(len(new_blocks), 1, "--out should gain exactly one block: %s" % sorted(new))
        self.assertEqual(new - set(new_blocks) - {LOCK_FILE}, set(),
                         "leftovers in --out after a successful merge")
        block = os.path.join(out, new_blocks[0])
        in_blocks = input_blocks_of(inputs)
        info = self.check_block(block, in_blocks)
        summary = None
        if json_out:
            lines = so.splitlines()
            self.assertEqual(len(lines), 1, "--json prints one line: %r" % so[:2000])
            summary = json.loads(lines[0])
            self.check_summary(summary, block, in_blocks, dedup or "penalty", info)
        return Merged(block, out, summary, so, se, info, in_blocks)

    # -- block structure
    def check_block(self, block, in_blocks):
        name = os.path.basename(block)
        try:
            b = h.read_block(block, verify=True)
        except h.FormatError as e:
            self.fail("output block %s: %s" % (name, e))
        meta = b.meta
        self.assertEqual(meta["ulid"], name)
        self.assertEqual(meta.get("version"), 1)
        in_metas = [h.read_meta(x) for x in in_blocks]
        mint, maxt = meta["minTime"], meta["maxTime"]
        self.assertEqual((mint, maxt), (min(m["minTime"] for m in in_metas),
                                        max(m["maxTime"] for m in in_metas)), "block time range")
        in_chunks = set()
        for x in in_blocks:
            for _, chunks in _input_block(x).series:
                in_chunks.update((c.encoding, bytes(c.data)) for c in chunks)
        nseries = nchunks = nsamples = copied = 0
        prev = None
        for lbls, chunks in b.series:
            where = "%s %s" % (name, h.labels_str(lbls))
            names = [n for n, _ in lbls]
            self.assertEqual(names, sorted(set(names)), "labels not sorted/unique: " + where)
            key = list(lbls)
            if prev is not None:
                self.assertLess(prev, key, "series not sorted: " + where)
            prev = key
            self.assertTrue(chunks, "series without chunks: " + where)
            nseries += 1
            last_t = None
            for c in chunks:
                self.assertEqual(c.encoding, 1, where)
                smp = c.samples()
                self.assertTrue(smp, "empty chunk: " + where)
                ts = [t for t, _ in smp]
                self.assertEqual((c.mint, c.maxt), (ts[0], ts[-1]),
                                 "chunk meta range != samples: " + where)
                self.assertTrue(all(a < b for a, b in zip(ts, ts[1:])),
                                "timestamps not increasing in chunk: " + where)
                self.assertTrue(mint <= c.mint and c.maxt < maxt,
                                "chunk %d..%d outside block [%d, %d): %s" % (c.mint, c.maxt, mint, maxt, where))
                if last_t is not None:
                    self.assertLess(last_t, c.mint, "chunks overlap: " + where)
                last_t = c.maxt
                if (c.encoding, bytes(c.data)) in in_chunks:
                    copied += 1
                else:
                    self.assertLessEqual(len(smp), MAX_CHUNK_SAMPLES,
                                         "re-encoded chunk with %d samples: %s" % (len(smp), where))
                nchunks += 1
                nsamples += len(smp)
        # Float samples counted apart, as Prometheus 3.6+ writes them.
        self.assertEqual(meta["stats"], {"numSamples": nsamples, "numFloatSamples": nsamples,
                                         "numSeries": nseries, "numChunks": nchunks},
                         "meta.json stats of " + name)
        return {"series": nseries, "chunks": nchunks, "samples": nsamples, "byte_copies": copied}

    def check_summary(self, s, block, in_blocks, mode, info):
        self.assertIsInstance(s, dict)
        missing = [f for f in SUMMARY_FIELDS if f not in s]
        self.assertEqual(missing, [], "summary fields missing: %s" % s)
        in_metas = [h.read_meta(x) for x in in_blocks]
        self.assertEqual(s["ulid"], os.path.basename(block))
        self.assertEqual(os.path.realpath(s["path"]), os.path.realpath(block))
        self.assertEqual(s["dedup"], mode)
        self.assertEqual(sorted(s["inputs"]), sorted(m["ulid"] for m in in_metas))
        self.assertEqual(s["series_in"], sum(m["stats"]["numSeries"] for m in in_metas), "series_in")
        self.assertEqual(s["samples_in"], sum(m["stats"]["numSamples"] for m in in_metas), "samples_in")
        self.assertEqual(s["chunks_in"], sum(m["stats"]["numChunks"] for m in in_metas), "chunks_in")
        self.assertEqual((s["series_out"], s["samples_out"], s["chunks_out"]),
                         (info["series"], info["samples"], info["chunks"]), "*_out vs the block")
        for f in ("chunks_copied", "chunks_reencoded"):
            self.assertIsInstance(s[f], int)
            self.assertGreaterEqual(s[f], 0)
        self.assertEqual(s["chunks_copied"] + s["chunks_reencoded"], s["chunks_out"],
                         "chunks_copied + chunks_reencoded != chunks_out: %s" % s)
        self.assertLessEqual(s["chunks_copied"], info["byte_copies"],
                             "more chunks reported copied than output chunks equal to an input chunk")
        self.assertIsInstance(s["seconds"], (int, float))
        self.assertGreaterEqual(s["seconds"], 0)

    # -- samples
    def output_samples(self, block, values="dump"):
        if values == "dump":
            return {h.parse_labels_str(k): v
                    for k, v in h.parse_dump(h.promtool_dump(block)).items()}
        return h.read_block(block).samples()

    def assertSamples(self, got, want, what):
        self.assertTrue(want, "%s: empty expectation" % what)
        diff = ref.difference(got, want)
        if diff:
            self.fail("%s: output differs from the reference:\n%s" % (what, diff))

    def assertNoLabel(self, samples, label, what):
        bad = sorted(h.labels_str(l) for l in samples if label in dict(l))
        self.assertEqual(bad[:5], [], "%s: output series still carry %s" % (what, label))

    def assertDiffer(self, x, y, what):
        """Self-check of the test data: two expectations must differ, or the
        test could not tell the cases apart."""
        self.assertIsNotNone(ref.difference(x, y), "test data does not discriminate: " + what)


# ---------------------------------------------------------------- penalty

class PenaltyTest(MergeTestCase):

    def test_replica_label_in_series_labels(self):
        d = self.d
        inputs = [d.LB, d.LA]  # replica order is by label value: a first
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "penalty, replica label in series labels")
        self.assertNoLabel(got, "replica", "penalty (a)")
        self.assertEqual(len(got), 20)
        self.assertNotIn("thanos", m.meta, "no input had a thanos section")
        # The dedup really dropped samples (neither chain nor one replica only).
        self.assertDiffer(want, ref.reference(inputs, ["replica"], "chain"), "penalty vs chain")
        self.assertLess(m.summary["samples_out"], m.summary["samples_in"])

    def test_replica_label_in_external_labels(self):
        d = self.d
        inputs = [d.XB, d.XA]
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "penalty, replica label in thanos.labels")
        self.assertNoLabel(got, "replica", "penalty (b)")
        self.assertEqual(len(got), 20)
        th = m.meta.get("thanos")
        self.assertIsNotNone(th, "inputs had a thanos section, the output must too")
        self.assertEqual(th.get("labels"), {"cluster": "x"})
        self.assertEqual(th.get("source"), "promblock")
        self.assertEqual((th.get("downsample") or {}).get("resolution"), 0)

    def test_no_replica_label_default_mode(self):
        d = self.d
        inputs = [d.A, d.B]  # plain Prometheus blocks: each INPUT its own replica
        m = self.merge(inputs)  # default --dedup: penalty
        self.assertEqual(m.summary["dedup"], "penalty")
        want = ref.reference(inputs, (), "penalty")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "penalty, replicas named by INPUT")
        self.assertEqual(len(got), 20)
        # Same data as the labelled case: the carrier of the replica name is irrelevant.
        self.assertIsNone(ref.difference(want, ref.reference([d.LA, d.LB], ["replica"])))

    def test_three_replicas_series_label(self):
        d = self.d
        inputs = [d.LC, d.LB, d.LA_GAP]  # folded as a, b, c (label values)
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        self.assertDiffer(want, ref.reference([d.LA_GAP, d.LB], ["replica"]),
                          "replica c must fill the a/b gap")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "penalty, 3 replicas (series label)")
        self.assertNoLabel(got, "replica", "penalty 3 replicas")

    def test_three_replicas_argument_order(self):
        d = self.d
        inputs = [d.R["c"], d.R["a"], d.R["b"]]  # INPUT-named: folded c, a, b
        m = self.merge(inputs, (), "penalty")
        want = ref.reference(inputs, (), "penalty")
        self.assertDiffer(want, ref.reference([d.R["a"], d.R["b"], d.R["c"]]), "fold order")
        self.assertSamples(self.output_samples(m.block), want, "penalty, 3 replicas by argument order")

    def test_three_replicas_external_labels(self):
        d = self.d
        inputs = [d.XR["b"], d.XR["c"], d.XR["a"]]  # folded a, b, c (label values)
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        self.assertDiffer(want, ref.reference(inputs, (), "penalty"), "fold order")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "penalty, 3 replicas (external label)")
        self.assertEqual(m.meta["thanos"]["labels"], {"cluster": "x"})

    def test_equal_timestamps_first_replica_wins(self):
        d = self.d
        # Recording-rule-like data: equal timestamps, different values.
        inputs = [d.RL["b"], d.RL["a"]]
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        self.assertSamples(self.output_samples(m.block), want, "penalty, equal timestamps (label)")
        inputs = [d.R["b"], d.R["a"]]
        m = self.merge(inputs, (), "penalty")
        want_b_first = ref.reference(inputs, (), "penalty")
        self.assertDiffer(want, want_b_first, "replica order on equal timestamps")
        self.assertSamples(self.output_samples(m.block), want_b_first,
                           "penalty, equal timestamps (argument order)")

    def test_stale_markers(self):
        d = self.d
        inputs = [d.STALE, d.SP]
        m = self.merge(inputs, (), "penalty")
        want = ref.reference(inputs, (), "penalty", values="bits")
        self.assertTrue(any(v == h.STALE_NAN_BITS for s in want.values() for _, v in s),
                        "expected stale markers in the penalty output")
        self.assertSamples(self.output_samples(m.block, "bits"), want, "penalty with stale markers")


# ---------------------------------------------------------------- chain

class ChainTest(MergeTestCase):

    def test_equal_timestamps_first_replica_wins(self):
        d = self.d
        inputs = [d.RL["b"], d.RL["a"]]  # replica a (label value) wins ties
        m = self.merge(inputs, ["replica"], "chain")
        want = ref.reference(inputs, ["replica"], "chain")
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "chain, equal timestamps, replica label")
        self.assertNoLabel(got, "replica", "chain")
        inputs = [d.R["b"], d.R["a"]]  # INPUT-named: b (first argument) wins ties
        m = self.merge(inputs, (), "chain")
        want_b = ref.reference(inputs, (), "chain")
        self.assertDiffer(want, want_b, "tie-breaking order")
        self.assertSamples(self.output_samples(m.block), want_b, "chain, equal timestamps, by argument")

    def test_stale_markers(self):
        d = self.d
        inputs = [d.SP, d.STALE]
        m = self.merge(inputs, (), "chain")
        want = ref.reference(inputs, (), "chain", values="bits")
        got = self.output_samples(m.block, "bits")
        self.assertSamples(got, want, "chain with stale markers")
        n_stale = sum(1 for s in got.values() for _, v in s if v == h.STALE_NAN_BITS)
        n_in = sum(1 for s in h.read_block(h.block_dirs(d.STALE)[0]).samples().values()
                   for _, v in s if v == h.STALE_NAN_BITS)
        self.assertEqual(n_stale, n_in, "every stale marker kept (no equal timestamps here)")

    def test_three_replicas_reference(self):
        d = self.d
        inputs = [d.A, d.B, d.C]
        m = self.merge(inputs, (), "chain")
        self.assertSamples(self.output_samples(m.block), ref.reference(inputs, (), "chain"),
                           "chain, 3 replicas")
        self.assertEqual(m.summary["samples_out"], m.summary["samples_in"],
                         "no equal timestamps: chain keeps every sample")


# ---------------------------------------------------------------- none

class NoneModeTest(MergeTestCase):

    def test_series_label(self):
        d = self.d
        inputs = [d.LA, d.LB]
        m = self.merge(inputs, ["replica"], "none")
        want = ref.reference(inputs, ["replica"], "none")
        # == chain merge of the inputs with the replica labels left in place
        self.assertIsNone(ref.difference(want, ref.reference(inputs, (), "chain")))
        got = self.output_samples(m.block)
        self.assertSamples(got, want, "none, replica label in series labels")
        self.assertEqual({dict(l).get("replica") for l in got}, {"a", "b"})
        self.assertEqual(len(got), 40)

    def test_external_label(self):
        d = self.d
        inputs = [d.XA, d.XB]
        m = self.merge(inputs, ["replica"], "none")
        want = ref.reference(inputs, ["replica"], "none")
        got = self.output_samples(m.block)
        self.assertEqual({dict(l).get("replica") for l in got}, {"a", "b"},
                         "replica label from thanos.labels must be added to the series")
        self.assertSamples(got, want, "none, replica label in external labels")
        self.assertEqual(len(got), 40)
        self.assertEqual(m.meta["thanos"]["labels"], {"cluster": "x"})

    def test_no_replica_label(self):
        d = self.d
        inputs = [d.A, d.B]  # nothing tells the replicas apart: plain chain merge
        m = self.merge(inputs, (), "none")
        self.assertSamples(self.output_samples(m.block), ref.reference(inputs, (), "chain"),
                           "none without replica labels")


# ---------------------------------------------------------------- shapes

class ShapesTest(MergeTestCase):

    def chunks_of(self, blocks):
        """sorted [(labels minus replica, mint, maxt, encoding, data)] of blocks."""
        out = []
        for b in blocks:
            for lbls, chunks in _input_block(b).series:
                l = tuple(p for p in lbls if p[0] != "replica")
                out += [(l, c.mint, c.maxt, c.encoding, bytes(c.data)) for c in chunks]
        return sorted(out)

    def assertAllCopied(self, m, what):
        s = m.summary
        self.assertEqual(self.chunks_of([m.block]), self.chunks_of(m.inputs),
                         "%s: output chunks must be the input chunks, byte for byte" % what)
        self.assertEqual(s["chunks_reencoded"], 0, "%s: %s" % (what, s))
        self.assertEqual(s["chunks_copied"], s["chunks_in"], "%s: %s" % (what, s))
        self.assertEqual(s["samples_out"], s["samples_in"], "%s: %s" % (what, s))

    def test_series_in_one_replica_only(self):
        d = self.d
        inputs = [d.R["a"], d.R["b"]]
        m = self.merge(inputs, (), "penalty")
        got = self.output_samples(m.block)
        self.assertSamples(got, ref.reference(inputs, (), "penalty"), "penalty, one-replica series")
        for x, name in (("a", "rule_only_a"), ("b", "rule_only_b_total")):
            only = {l: s for l, s in ref.reference([d.R[x]], (), "chain").items()
                    if dict(l)["__name__"] == name}
            self.assertEqual(len(only), 1)
            self.assertSamples({l: got[l] for l in only if l in got}, only, name + " kept whole")
            # a series that overlaps nothing: its chunks are copied, not re-encoded
            self.assertEqual([c for c in self.chunks_of([m.block]) if dict(c[0])["__name__"] == name],
                             [c for c in self.chunks_of(h.block_dirs(d.R[x]))
                              if dict(c[0])["__name__"] == name], name + " chunks copied")
        self.assertGreater(m.summary["chunks_reencoded"], 0, "overlapping series are re-encoded")

    def test_disjoint_label_sets(self):
        d = self.d
        inputs = [d.D["a"], d.D["b"]]
        m = self.merge(inputs, (), "penalty")
        want = ref.reference(inputs, (), "chain")
        self.assertEqual(len(want), 10)
        self.assertSamples(self.output_samples(m.block), want, "disjoint label sets")
        self.assertAllCopied(m, "disjoint label sets")

    def test_disjoint_label_sets_with_replica_label(self):
        d = self.d
        inputs = [d.DL["b"], d.DL["a"]]
        m = self.merge(inputs, ["replica"], "penalty")
        got = self.output_samples(m.block)
        self.assertSamples(got, ref.reference(inputs, ["replica"], "penalty"),
                           "disjoint label sets, replica label")
        self.assertNoLabel(got, "replica", "disjoint")
        self.assertEqual(len(got), 10)
        self.assertAllCopied(m, "disjoint label sets, replica label")

    def test_tombstones_applied(self):
        d = self.d
        # A real Prometheus writes the tombstones (admin API delete_series) into a
        # copy of replica a's block; promtool dump (the reference's input) honours them.
        src = h.mkdtemp(prefix="promblock-merge-tomb-")
        deletes = [('node_load1', md.W + 30 * md.MIN, md.W + 50 * md.MIN),
                   ('up', md.W, md.W + 3 * 3600 * 1000),
                   ('{__name__="node_cpu_seconds_total",cpu="1"}', md.W + 90 * md.MIN,
                    md.W + 100 * md.MIN)]
        with h.PrometheusServer(h.block_dirs(d.A), extra_args=["--web.enable-admin-api"]) as prom:
            for sel, start, end in deletes:
                q = urllib.parse.urlencode({"match[]": sel, "start": h.ms_to_api_time(start),
                                            "end": h.ms_to_api_time(end)})
                status, body = prom.post("/api/v1/admin/tsdb/delete_series?" + q, b"", {})
                self.assertEqual(status // 100, 2, body)
            blk = os.path.join(prom.data_dir, os.path.basename(h.block_dirs(d.A)[0]))
            self.assertTrue(os.path.isfile(os.path.join(blk, "tombstones")))
            self.assertGreater(h.read_meta(blk)["stats"].get("numTombstones", 0), 0)
            tomb = h.copy_block(blk, src)
        for mode in ("penalty", "chain"):
            with self.subTest(mode=mode):
                inputs = [tomb, d.B]
                m = self.merge(inputs, (), mode)
                want = ref.reference(inputs, (), mode)
                self.assertDiffer(want, ref.reference([d.A, d.B], (), mode), "tombstones")
                got = self.output_samples(m.block)
                self.assertSamples(got, want, "merge with tombstones, " + mode)
                # `up` survives only through replica b
                up = [l for l in got if dict(l)["__name__"] == "up"]
                self.assertEqual(len(up), 1)
                a_ts = {t for t, _ in h.read_block(tomb).samples()[up[0]]}
                self.assertFalse(a_ts & {t for t, _ in got[up[0]]}, "deleted samples in the output")

    def test_non_overlapping_blocks_one_source(self):
        d = self.d
        m = self.merge([d.TWO], (), "penalty")  # one source dir = one replica
        self.assertSamples(self.output_samples(m.block), ref.reference([d.TWO], (), "chain"),
                           "two consecutive blocks")
        self.assertEqual(h.promtool_dump(m.block), h.promtool_dump(d.TWO))
        self.assertAllCopied(m, "two consecutive blocks")
        metas = [h.read_meta(b) for b in h.block_dirs(d.TWO)]
        self.assertGreater(m.meta["maxTime"] - m.meta["minTime"], h.BLOCK_RANGE_MS)
        self.assertEqual(m.summary["series_out"], 6)
        self.assertEqual(sorted(m.meta["compaction"]["sources"]), sorted(x["ulid"] for x in metas))

    def test_non_overlapping_blocks_two_inputs(self):
        d = self.d
        inputs = h.block_dirs(d.TWO)  # each block an INPUT (two replicas that never overlap)
        m = self.merge(inputs, (), "chain")
        self.assertEqual(h.promtool_dump(m.block), h.promtool_dump(d.TWO))
        self.assertAllCopied(m, "two consecutive blocks as two inputs, chain")
        # penalty: replica 2's first samples come less than 2 scrape intervals after
        # replica 1's last one, so the algorithm drops them (as Thanos does).
        m = self.merge(inputs, (), "penalty")
        want = ref.reference(inputs, (), "penalty")
        self.assertDiffer(want, ref.reference(inputs, (), "chain"), "penalty at the junction")
        self.assertSamples(self.output_samples(m.block), want, "two blocks as two inputs, penalty")


# ---------------------------------------------------------------- meta.json, summary

class MetaTest(MergeTestCase):

    def test_meta_and_summary(self):
        d = self.d
        out = os.path.join(self.new_out(), "nested", "dir")  # --out is created
        inputs = [d.A, d.B, d.C]
        m = self.merge(inputs, (), "chain", out=out)
        metas = [h.read_meta(b) for b in m.inputs]
        c = m.meta["compaction"]
        self.assertEqual(c["level"], 2)
        self.assertEqual(c["sources"], sorted(x["ulid"] for x in metas))
        self.assertEqual(sorted((p["ulid"], p["minTime"], p["maxTime"]) for p in c["parents"]),
                         sorted((x["ulid"], x["minTime"], x["maxTime"]) for x in metas))
        self.assertNotIn("thanos", m.meta)
        dump = h.promtool_dump(m.block)
        lines = dump.splitlines()
        self.assertEqual(m.summary["samples_out"], len(lines))
        self.assertEqual(m.summary["series_out"], len({l.rsplit(" ", 2)[0] for l in lines}))
        self.assertEqual(m.meta["stats"]["numSamples"], len(lines))
        self.assertEqual(m.summary["series_in"], 60)
        self.assertEqual(m.summary["samples_in"], sum(x["stats"]["numSamples"] for x in metas))
        # no two replicas share a timestamp here: chain keeps every input sample
        self.assertEqual(m.summary["samples_out"], m.summary["samples_in"])

    def test_level_and_sources_of_merged_inputs(self):
        d = self.d
        m1 = self.merge([d.A, d.B], (), "chain")
        c_block = h.block_dirs(d.C)[0]
        m2 = self.merge([m1.block, c_block], (), "penalty")
        c = m2.meta["compaction"]
        self.assertEqual(c["level"], 3)
        srcs = sorted([os.path.basename(b) for b in h.block_dirs(d.A) + h.block_dirs(d.B)] +
                      [os.path.basename(c_block)])
        self.assertEqual(c["sources"], srcs)
        self.assertEqual(sorted(p["ulid"] for p in c["parents"]),
                         sorted([m1.meta["ulid"], os.path.basename(c_block)]))
        # sources that appear twice are listed once
        m3 = self.merge([h.block_dirs(d.A)[0], m1.block], (), "chain")
        self.assertEqual(m3.meta["compaction"]["sources"], m1.meta["compaction"]["sources"])
        self.assertEqual(m3.meta["compaction"]["level"], 3)

    def test_thanos_section_and_files(self):
        d = self.d
        m = self.merge([d.XA, d.XB], ["replica"], "penalty")
        th = m.meta["thanos"]
        files = th.get("files")
        self.assertIsInstance(files, list)
        listed = {}
        for f in files:
            self.assertIn("rel_path", f)
            listed[f["rel_path"]] = f.get("size_bytes", 0)
        on_disk = {}
        for dp, _, fs in os.walk(m.block):
            for n in fs:
                p = os.path.join(dp, n)
                on_disk[os.path.relpath(p, m.block)] = os.path.getsize(p)
        self.assertIn("index", listed)
        self.assertTrue(any(p.startswith("chunks/") for p in listed))
        for p in on_disk:
            if p.startswith("chunks/") or p == "index":
                self.assertEqual(listed.get(p), on_disk[p], "thanos.files entry for " + p)
        for p in listed:
            self.assertIn(p, on_disk, "thanos.files lists a file that is not there")
        # external labels without a replica label are kept as they are
        ca = md.with_external_labels(d.A, {"cluster": "x", "region": "eu"}, d.tmp)
        cb = md.with_external_labels(d.B, {"cluster": "x", "region": "eu"}, d.tmp)
        m = self.merge([ca, cb], (), "penalty")
        self.assertEqual(m.meta["thanos"]["labels"], {"cluster": "x", "region": "eu"})
        self.assertSamples(self.output_samples(m.block), ref.reference([ca, cb], (), "penalty"),
                           "penalty, same external labels, no replica label")

    def test_deduped_external_label(self):
        d = self.d
        xa = md.with_external_labels(d.A, {"prometheus_replica": "a"}, d.tmp)
        xb = md.with_external_labels(d.B, {"prometheus_replica": "b"}, d.tmp)
        labels = ["replica", "prometheus_replica"]
        m = self.merge([xb, xa], labels, "penalty")
        # nothing left: <first replica label>="deduped", as Thanos writes it
        self.assertEqual(m.meta["thanos"]["labels"], {"replica": "deduped"})
        got = self.output_samples(m.block)
        self.assertSamples(got, ref.reference([xb, xa], labels, "penalty"), "penalty, 2 replica labels")
        self.assertNoLabel(got, "prometheus_replica", "deduped")
        self.assertNoLabel(got, "replica", "deduped")
        # one input without a thanos section: its external labels are {} -- the
        # same group once the replica label is gone; the output has the section
        m = self.merge([xa, d.B], labels, "chain")
        self.assertEqual(m.meta["thanos"]["labels"], {"replica": "deduped"})
        self.assertSamples(self.output_samples(m.block), ref.reference([d.A, d.B], (), "chain"),
                           "chain, one input with a thanos section")

    def test_human_summary(self):
        d = self.d
        m = self.merge([d.A, d.B], (), None, json_out=False)
        lines = [l for l in m.stdout.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "a short human line: %r" % m.stdout)
        self.assertIn(m.meta["ulid"], lines[0])
        with self.assertRaises(ValueError):
            json.loads(lines[0])

    def test_leftover_tmp_dir_removed(self):
        d = self.d
        out = self.new_out()
        stale_tmp = os.path.join(out, "01ARZ3NDEKTSV4RRFFQ69G5FAV" + TMP_SUFFIX)
        os.makedirs(os.path.join(stale_tmp, "chunks"))
        with open(os.path.join(stale_tmp, "index"), "wb") as f:
            f.write(b"partial")
        before = set(os.listdir(out)) - {os.path.basename(stale_tmp)}
        rc, so, se = h.run_promblock(self.merge_args(out, [d.A, d.B]), timeout=300)
        self.assertEqual(rc, 0, se)
        self.assertFalse(os.path.exists(stale_tmp), "a tmp dir of an earlier run must be removed")
        new = set(os.listdir(out)) - before - {LOCK_FILE}
        self.assertEqual(len(new), 1, new)
        self.assertTrue(h.is_block_dir(os.path.join(out, new.pop())))


# ---------------------------------------------------------------- exit codes

class ExitCodeTest(MergeTestCase):

    def assertOnlyTmp(self, out, what):
        if not os.path.isdir(out):
            return
        bad = [n for n in os.listdir(out) if n != LOCK_FILE and not
               (n.endswith(TMP_SUFFIX) and os.path.isdir(os.path.join(out, n)))]
        self.assertEqual(bad, [], "%s: --out must hold nothing but tmp dirs" % what)

    def test_bad_usage(self):
        d = self.d
        cases = {
            "bad --dedup": ["merge", "--out", None, "--dedup", "bogus", d.A, d.B],
            "unknown flag": ["merge", "--out", None, "--no-such-flag", d.A, d.B],
            "no --out": ["merge", d.A, d.B],
            "no input": ["merge", "--out", None],
        }
        for what, args in cases.items():
            with self.subTest(what):
                out = self.new_out()
                args = [out if a is None else a for a in args]
                rc, so, se = h.run_promblock(args)
                self.assertEqual(rc, 2, "%s: exit %d\n%s" % (what, rc, se[-2000:]))
                self.assertTrue(se.strip(), "%s: say why on stderr" % what)
                self.assertOnlyTmp(out, what)
                if os.path.isdir(out):
                    self.assertFalse([n for n in os.listdir(out) if h.is_block_dir(os.path.join(out, n))])

    def test_missing_input(self):
        d = self.d
        out = self.new_out()
        missing = os.path.join(h.mkdtemp(), "does-not-exist")
        rc, so, se = h.run_promblock(self.merge_args(out, [d.A, missing]))
        self.assertEqual(rc, 1, "exit %d\n%s" % (rc, se[-2000:]))
        self.assertTrue(se.strip())
        self.assertOnlyTmp(out, "missing input")

    def test_external_labels_differ(self):
        d = self.d
        xby = md.with_external_labels(d.B, {"replica": "b", "cluster": "y"}, d.tmp)
        out = self.merge([d.A, d.B], (), "chain").out  # --out already holds a block
        snap = h.snapshot_tree(out)
        snap.pop(".")
        rc, so, se = h.run_promblock(self.merge_args(out, [d.XA, xby], ["replica"]))
        self.assertEqual(rc, 1, "cluster x vs y are different groups: exit %d\n%s" % (rc, se[-2000:]))
        self.assertTrue(se.strip())
        after = h.snapshot_tree(out)
        after.pop(".")
        self.assertEqual(after, snap, "--out must be unchanged")
        # the same inputs with matching labels do merge
        self.merge([d.XA, d.XB], ["replica"], out=out)

    def test_lock_held(self):
        d = self.d
        out = self.new_out()
        os.makedirs(out)
        fd = os.open(os.path.join(out, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            rc, so, se = h.run_promblock(self.merge_args(out, [d.A, d.B]), timeout=60)
            self.assertEqual(rc, 75, "exit %d while the lock is held\n%s" % (rc, se[-2000:]))
            self.assertTrue(se.strip())
            self.assertEqual([n for n in os.listdir(out) if h.is_block_dir(os.path.join(out, n))], [])
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.merge([d.A, d.B], out=out)  # and once it is free, it works


# ---------------------------------------------------------------- loading into Prometheus

class PrometheusLoadTest(MergeTestCase):

    def test_output_loads_in_prometheus(self):
        d = self.d
        inputs = [d.LB, d.LA]
        m = self.merge(inputs, ["replica"], "penalty")
        want = ref.reference(inputs, ["replica"], "penalty")
        ref_dir = h.mkdtemp(prefix="promblock-merge-refblock-")
        ref_blocks = h.make_blocks(md.samples_om(want), ref_dir)
        self.assertEqual(len(ref_blocks), 1)
        mint, maxt = m.meta["minTime"], m.meta["maxTime"]
        t_mid = md.W + 30 * md.MIN
        with h.PrometheusServer([m.block]) as ours, h.PrometheusServer(ref_blocks) as theirs:
            for srv in (ours, theirs):
                r = srv.query('count({__name__=~".+"})', time=h.ms_to_api_time(t_mid))
                self.assertEqual([float(x["value"][1]) for x in r["data"]["result"]], [len(want)],
                                 "series count at %d on %s" % (t_mid, srv.url))
            series = ours._get("/api/v1/series", {"match[]": '{__name__=~".+"}',
                                                   "start": h.ms_to_api_time(mint),
                                                   "end": h.ms_to_api_time(maxt)})["data"]
            self.assertEqual(sorted(sorted(s.items()) for s in series), sorted(sorted(l) for l in want))
            got = h.raw_samples(ours, '{__name__=~".+"}', mint, maxt)
            self.assertEqual(h.canonical_samples(got), h.canonical_samples(want),
                             "samples served by prometheus")
            for q in ("rate(http_requests_total[5m])", "rate(node_cpu_seconds_total[5m])",
                      "sum by (mode) (rate(node_cpu_seconds_total[5m]))"):
                args = (q, h.ms_to_api_time(mint), h.ms_to_api_time(maxt), "30")
                a = ours.query_range(*args)["data"]
                b = theirs.query_range(*args)["data"]
                self.assertTrue(b["result"], q)
                key = lambda s: sorted(s["metric"].items())  # noqa: E731
                a["result"].sort(key=key)
                b["result"].sort(key=key)
                self.assertEqual(a, b, "query_range %s differs from the reference block's" % q)


# ---------------------------------------------------------------- chain vs Prometheus

class ChainVsPrometheusTest(MergeTestCase):
    """Slow: waits for the compactions started in setUpModule (~1 min)."""

    def check_against_prometheus(self, name, inputs):
        m = self.merge(inputs, (), "chain")  # before waiting: overlaps the wait
        theirs = ORACLES[name].result()
        sys.stderr.write("[oracle %s: prometheus compacted after %.1fs]\n" % (name, ORACLES[name].seconds))
        want_text = h.promtool_dump(theirs)
        got_text = h.promtool_dump(m.block)
        if got_text != want_text:
            got = {h.parse_labels_str(k): v for k, v in h.parse_dump(got_text).items()}
            want = {h.parse_labels_str(k): v for k, v in h.parse_dump(want_text).items()}
            self.fail("chain %s: promtool dump differs from Prometheus's compaction:\n%s" %
                      (name, ref.difference(got, want) or "(same samples, different text)"))
        tm = h.read_meta(theirs)
        for k in ("minTime", "maxTime"):
            self.assertEqual(m.meta[k], tm[k], k)
        for k in ("numSamples", "numSeries"):
            self.assertEqual(m.meta["stats"][k], tm["stats"][k], k)
        self.assertEqual(m.meta["compaction"]["level"], tm["compaction"]["level"])
        self.assertEqual(m.meta["compaction"]["sources"], tm["compaction"]["sources"])
        # the oracle agrees with the reference implementation too
        self.assertEqual(ref.dump_text(ref.reference(inputs, (), "chain")), want_text,
                         "penalty_ref.chain disagrees with Prometheus")

    def test_chain_two_replicas(self):
        self.check_against_prometheus("two", [self.d.A, self.d.B])

    def test_chain_three_replicas(self):
        self.check_against_prometheus("three", [self.d.A, self.d.B, self.d.C])


def load_tests(loader, tests, pattern):
    """Explicit order: the Prometheus-compaction comparison last, so that the
    servers compact while everything else runs."""
    suite = unittest.TestSuite()
    for cls in (PenaltyTest, ChainTest, NoneModeTest, ShapesTest, MetaTest, ExitCodeTest,
                PrometheusLoadTest, ChainVsPrometheusTest):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


if __name__ == "__main__":
    h.main()
