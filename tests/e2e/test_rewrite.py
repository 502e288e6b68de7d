#!/usr/bin/env python3
"""promblock rewrite --out DIR [--delete SEL]... [--drop-label L]... [--json] BLOCK
("`rewrite --delete '{job="x"}'` output dumps equal
the input dump minus those series, and loads in a real `prometheus`").

Input: copies of the real-world blocks (testdata/realworld/replica_a, written by
Prometheus 2.42) and of testdata/blocks. Oracles:
  - --delete: `promtool tsdb dump` of the output == the input's dump without the
    lines of the matched series (several selectors: the union);
  - --drop-label instance (job "prometheus" scrapes both servers, so series
    collide): the output's dump == a chain merge computed here from the input's
    dump (union of samples per new series, one per timestamp; on equal
    timestamps the series whose old labels sort first wins);
  - untouched series keep their chunks byte for byte (harness block reader);
  - the input's files are unchanged (SHA-256 and stat before/after);
  - a real Prometheus loads the output: the series count through the query
    API and `count({__name__=~".+"})` equal what the output should hold;
  - meta.json: new ULID, same time range, level and sources kept, parents =
    [input], exact stats; a Thanos section gets the rewrite in `rewrites`
    (Thanos's metadata.Rewrite) and fresh `files`;
  - tombstones of the input (written by a real Prometheus through its admin
    API) are applied;
  - deleting everything writes no block (exit 0, notice on stderr);
  - exit 2 on bad usage (bad selector, not exactly one block), 75 on a held
    lock, 1 on a missing block.
"""

import fcntl
import json
import os
import shutil
import sys
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

REALWORLD = os.path.join(h.TESTDATA, "realworld", "replica_a")


def dump_series(text):
    """promtool dump text -> [(labels frozenset, labels string, [lines])] in order."""
    out = []
    for line in text.splitlines(True):
        series = line.rsplit(" ", 2)[0]
        if not out or out[-1][1] != series:
            out.append((h.parse_labels_str(series), series, []))
        out[-1][2].append(line)
    return out


def sort_key(labels):
    return sorted(labels)


def chain_merge_dump(text, drop):
    """The dump a chain merge of the input dump's series gives after dropping
    the labels in `drop`."""
    groups = {}
    for labels, _, lines in dump_series(text):
        new = frozenset((n, v) for n, v in labels if n not in drop)
        groups.setdefault(new, []).append((sort_key(labels), lines))
    out = []
    for new in sorted(groups, key=sort_key):
        copies = sorted(groups[new], key=lambda c: c[0])  # old labels order: first wins
        samples = {}
        for _, lines in copies:
            for line in lines:
                _, val, ts = line.rstrip("\n").rsplit(" ", 2)
                samples.setdefault(int(ts), val)
        name = h.labels_str(new)
        out += ["%s %s %d\n" % (name, samples[t], t) for t in sorted(samples)]
    return "".join(out)


class RewriteBase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.tmp = h.mkdtemp()
        self.out = os.path.join(self.tmp, "out")

    def input_copy(self, block):
        return h.copy_block(block, os.path.join(self.tmp, "in"))

    def rewrite(self, block, *args, expect_rc=0):
        rc, out, err = h.run_promblock(["rewrite", "--json", "--out", self.out] + list(args) +
                                       [block], timeout=300)
        self.assertEqual(rc, expect_rc, "rewrite %s: %s" % (args, err[-2000:]))
        return json.loads(out) if rc == 0 else None

    def new_blocks(self):
        return sorted(n for n in os.listdir(self.out) if h.is_ulid(n)) if os.path.isdir(self.out) \
            else []

    def assertSameText(self, got, want, what):
        if got != want:
            gl, wl = got.splitlines(True), want.splitlines(True)
            i = next((i for i, (a, b) in enumerate(zip(gl, wl)) if a != b), min(len(gl), len(wl)))
            self.fail("%s: differs at line %d (%d vs %d lines)\ngot:  %r\nwant: %r" %
                      (what, i + 1, len(gl), len(wl), gl[i] if i < len(gl) else "<end>",
                       wl[i] if i < len(wl) else "<end>"))

    def assertSymbolsExact(self, b):
        used = {x for labels, _ in b.series for kv in labels for x in kv}
        extra, missing = set(b.symbols) - used, used - set(b.symbols)
        self.assertFalse(extra or missing, "symbols: unused %s, missing %s" %
                         (sorted(extra)[:10], sorted(missing)[:10]))

    def check_output_block(self, summary, inp):
        """Structure and meta.json of the one new block."""
        self.assertEqual(self.new_blocks(), [summary["ulid"]], "exactly one new block, no leftovers")
        self.assertEqual([n for n in os.listdir(self.out) if ".tmp" in n], [])
        path = os.path.join(self.out, summary["ulid"])
        self.assertEqual(os.path.normpath(summary["path"]), os.path.normpath(path))
        b = h.read_block(path)  # every CRC checked
        im, m = h.read_meta(inp), b.meta
        self.assertNotEqual(m["ulid"], im["ulid"])
        self.assertEqual((m["minTime"], m["maxTime"]), (im["minTime"], im["maxTime"]))
        self.assertEqual(m["compaction"]["level"], im["compaction"]["level"])
        self.assertEqual(m["compaction"]["sources"], im["compaction"]["sources"])
        self.assertEqual(m["compaction"]["parents"],
                         [{"ulid": im["ulid"], "minTime": im["minTime"], "maxTime": im["maxTime"]}])
        samples = sum(len(c.samples()) for _, cs in b.series for c in cs)
        self.assertEqual(m["stats"]["numSeries"], len(b.series))
        self.assertEqual(m["stats"]["numChunks"], sum(len(cs) for _, cs in b.series))
        self.assertEqual(m["stats"]["numSamples"], samples)
        self.assertEqual(summary["series_out"], len(b.series))
        self.assertEqual(summary["samples_out"], samples)
        self.assertEqual(summary["input"], im["ulid"])
        self.assertEqual(summary["series_in"], im["stats"]["numSeries"])
        self.assertEqual(summary["samples_in"], im["stats"]["numSamples"])
        self.assertEqual(summary["chunks_in"], im["stats"]["numChunks"])
        self.assertEqual(summary["chunks_out"], m["stats"]["numChunks"])
        self.assertEqual(summary["chunks_copied"] + summary["chunks_reencoded"], summary["chunks_out"])
        for i in range(1, len(b.series)):
            self.assertLess(sorted(b.series[i - 1][0]), sorted(b.series[i][0]), "series sorted")
        return path, b


class DeleteTest(RewriteBase):
    def test_delete_job_equals_dump_minus_series(self):
        for src in h.block_dirs(REALWORLD):
            with self.subTest(block=src):
                self.setUp()
                inp = self.input_copy(src)
                before, stat_before = h.file_digests(inp), h.snapshot_tree(inp)
                s = self.rewrite(inp, "--delete", '{job="node"}')
                self.assertEqual(h.file_digests(inp), before, "input files unchanged")
                self.assertEqual(h.snapshot_tree(inp), stat_before, "input dir untouched")
                path, b = self.check_output_block(s, inp)
                want_dump = h.promtool_dump(inp)
                want = "".join("".join(lines) for labels, _, lines in dump_series(want_dump)
                               if ("job", "node") not in labels)
                self.assertNotEqual(want, want_dump, "the selector matches something")
                self.assertSameText(h.promtool_dump(path), want, "dump minus job=node")
                self.assertGreater(s["series_deleted"], 0)
                self.assertEqual(s["series_out"], s["series_in"] - s["series_deleted"])
                self.assertEqual(s["series_merged"], 0)
                self.assertEqual(s["chunks_reencoded"], 0)
                self.assertEqual(s["chunks_copied"], s["chunks_out"])
                # Untouched series: chunks byte for byte.
                ib = {frozenset(l): [(c.mint, c.maxt, c.encoding, c.data) for c in cs]
                      for l, cs in h.read_block(inp).series}
                for labels, cs in b.series:
                    self.assertEqual([(c.mint, c.maxt, c.encoding, c.data) for c in cs],
                                     ib[frozenset(labels)])
                for labels, _ in b.series:
                    self.assertNotIn(("job", "node"), labels)
                self.assertSymbolsExact(b)
                self.assertNotIn("127.0.0.1:34119", b.symbols, "node exporter's instance gone")

    def test_several_selectors_are_a_union(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        sels = ['{job="node"}', 'up', '{__name__=~"prometheus_http_.*",code!="200"}']
        args = [a for s in sels for a in ("--delete", s)]
        s = self.rewrite(inp, *args)
        path, _ = self.check_output_block(s, inp)
        want = "".join(h.promtool_dump(inp, match=m) for m in
                       ['{job!="node",__name__!="up",__name__!~"prometheus_http_.*"}',
                        '{job!="node",__name__!="up",__name__=~"prometheus_http_.*",code="200"}'])
        got = h.promtool_dump(path)
        self.assertEqual(sorted(got.splitlines()), sorted(want.splitlines()))
        self.assertEqual(s["series_out"], len(dump_series(got)))

    def test_committed_test_blocks(self):
        # Odd label values (escapes, UTF-8, newlines), stale markers, long series.
        for src in h.all_committed_blocks():
            with self.subTest(block=src):
                self.setUp()
                inp = self.input_copy(src)
                s = self.rewrite(inp, "--delete", '{__name__=~"http_.*|sortcheck"}')
                if not s["written"]:
                    continue
                path, _ = self.check_output_block(s, inp)
                want = h.promtool_dump(inp, match='{__name__!~"http_.*|sortcheck"}')
                self.assertSameText(h.promtool_dump(path), want, src)

    def test_no_options_copies_the_block(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[1])
        s = self.rewrite(inp)
        path, _ = self.check_output_block(s, inp)
        self.assertSameText(h.promtool_dump(path), h.promtool_dump(inp), "plain copy")
        self.assertEqual(s["chunks_copied"], s["chunks_in"])


class DropLabelTest(RewriteBase):
    def test_drop_instance_equals_chain_merge(self):
        for src in h.block_dirs(REALWORLD):
            with self.subTest(block=src):
                self.setUp()
                inp = self.input_copy(src)
                before = h.file_digests(inp)
                s = self.rewrite(inp, "--drop-label", "instance")
                self.assertEqual(h.file_digests(inp), before)
                path, b = self.check_output_block(s, inp)
                in_dump = h.promtool_dump(inp)
                want = chain_merge_dump(in_dump, {"instance"})
                self.assertSameText(h.promtool_dump(path), want, "chain merge without instance")
                self.assertGreater(s["series_merged"], 0, "series collide")
                self.assertEqual(s["series_out"], len(dump_series(want)))
                for labels, _ in b.series:
                    self.assertNotIn("instance", dict(labels))
                self.assertNotIn("instance", b.symbols)
                self.assertSymbolsExact(b)

    def test_drop_and_delete_together(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[2])
        s = self.rewrite(inp, "--drop-label", "instance", "--drop-label", "mode",
                         "--delete", '{job="prometheus",__name__!~"prometheus_tsdb.*"}')
        path, _ = self.check_output_block(s, inp)
        kept = h.promtool_dump(inp, match='{job!="prometheus"}') + \
            h.promtool_dump(inp, match='{job="prometheus",__name__=~"prometheus_tsdb.*"}')
        lines = sorted(kept.splitlines(True), key=lambda l: (
            sorted(h.parse_labels_str(l.rsplit(" ", 2)[0])), int(l.rsplit(" ", 1)[1])))
        self.assertSameText(h.promtool_dump(path),
                            chain_merge_dump("".join(lines), {"instance", "mode"}), "drop+delete")


class LoadTest(RewriteBase):
    def test_output_loads_in_prometheus(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        s = self.rewrite(inp, "--delete", '{job="node"}', "--drop-label", "instance")
        path, b = self.check_output_block(s, inp)
        m = b.meta
        stale = h.STALE_NAN_BITS
        end = m["maxTime"] - 1
        live = 0
        for _, cs in b.series:
            last_t, last_v = cs[-1].samples()[-1]
            if last_v != stale and last_t > end - 300000:
                live += 1
        with h.PrometheusServer([path]) as prom:
            series = h.raw_samples(prom, '{__name__=~".+"}', m["minTime"], m["maxTime"])
            self.assertEqual(len(series), s["series_out"])
            res = prom.query('count({__name__=~".+"})', time=h.ms_to_api_time(end))
            self.assertEqual(int(res["data"]["result"][0]["value"][1]), live)
            res = prom.query('count({job="node"})', time=h.ms_to_api_time(end))
            self.assertEqual(res["data"]["result"], [])
            res = prom.query('count({instance=~".+"})', time=h.ms_to_api_time(end))
            self.assertEqual(res["data"]["result"], [])

    def test_tombstones_from_prometheus_are_applied(self):
        src = h.block_dirs(REALWORLD)[1]
        m = h.read_meta(src)
        mid = (m["minTime"] + m["maxTime"]) // 2
        with h.PrometheusServer([src], extra_args=["--web.enable-admin-api"]) as prom:
            q = urllib.parse.urlencode({"match[]": '{job="node"}', "start": h.ms_to_api_time(mid)})
            st, body = prom.post("/api/v1/admin/tsdb/delete_series?" + q, b"", {})
            self.assertEqual(st // 100, 2, body)
            inp = os.path.join(prom.data_dir, os.path.basename(src))
            self.assertGreater(os.path.getsize(os.path.join(inp, "tombstones")), 9)
            inp = h.copy_block(inp, os.path.join(self.tmp, "in"))
        s = self.rewrite(inp)
        path, _ = self.check_output_block(s, inp)
        self.assertSameText(h.promtool_dump(path), h.promtool_dump(inp), "tombstones applied")
        ob = h.read_block(path)
        for labels, cs in ob.series:
            if ("job", "node") in labels:
                self.assertLess(max(t for c in cs for t, _ in c.samples()), mid)
        with open(os.path.join(path, "tombstones"), "rb") as f:
            self.assertEqual(len(f.read()), 9, "no tombstones in the output")
        self.assertEqual(ob.meta["stats"]["numSamples"], s["samples_out"])
        self.assertLess(s["samples_out"], s["samples_in"])


class MetaTest(RewriteBase):
    def thanos_input(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        meta = h.read_meta(inp)
        meta["thanos"] = {"labels": {"cluster": "eu", "replica": "a"},
                          "downsample": {"resolution": 0}, "source": "sidecar",
                          "files": [{"rel_path": "index", "size_bytes": 1}],
                          "rewrites": [{"sources": ["01M89C6ZA9YQXA03EZ5SXF6M3S"]}]}
        with open(os.path.join(inp, "meta.json"), "w") as f:
            json.dump(meta, f, indent="\t")
        return inp

    def test_thanos_rewrites_record(self):
        inp = self.thanos_input()
        s = self.rewrite(inp, "--delete", '{job="node"}', "--delete", 'up{job=~"prom.*"}',
                         "--drop-label", "instance")
        path, _ = self.check_output_block(s, inp)
        t = h.read_meta(path)["thanos"]
        self.assertEqual(t["labels"], {"cluster": "eu", "replica": "a"})
        self.assertEqual(t["downsample"], {"resolution": 0})
        self.assertEqual(t["source"], "promblock")
        self.assertEqual(t["rewrites"], [
            {"sources": ["01M89C6ZA9YQXA03EZ5SXF6M3S"]},
            {"sources": h.read_meta(inp)["compaction"]["sources"],
             "deletions_applied": [{"matchers": ['job="node"']},
                                   {"matchers": ['__name__="up"', 'job=~"prom.*"']}],
             "relabels_applied": [{"separator": ";", "regex": "instance", "replacement": "$1",
                                   "action": "labeldrop"}]}])
        files = {f["rel_path"]: f.get("size_bytes") for f in t["files"]}
        for rel in ("index", "chunks/000001"):
            self.assertEqual(files[rel], os.path.getsize(os.path.join(path, rel)))
        self.assertIn("meta.json", files)

    def test_no_thanos_section_is_made_up(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        s = self.rewrite(inp, "--delete", '{job="node"}')
        self.assertNotIn("thanos", h.read_meta(s["path"]))

    def test_human_summary(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        rc, out, err = h.run_promblock(["rewrite", "--out", self.out, "--delete", "up", inp])
        self.assertEqual(rc, 0, err)
        (ulid,) = self.new_blocks()
        self.assertTrue(out.startswith("rewrote %s into " % h.read_meta(inp)["ulid"]), out)
        self.assertIn(ulid, out)
        self.assertIn("deleted", out)

    def test_deleting_everything_writes_no_block(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        rc, out, err = h.run_promblock(["rewrite", "--json", "--out", self.out,
                                        "--delete", '{__name__=~".+"}', inp])
        self.assertEqual(rc, 0, err)
        s = json.loads(out)
        self.assertFalse(s["written"])
        self.assertIsNone(s["ulid"])
        self.assertEqual(s["series_out"], 0)
        self.assertIn("no block written", err)
        self.assertEqual(self.new_blocks(), [])
        self.assertEqual([n for n in os.listdir(self.out) if ".tmp" in n], [])

    def test_stale_tmp_dirs_removed(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        os.makedirs(os.path.join(self.out, "01M89C6ZA9YQXA03EZ5SXF6M3S.tmp-for-creation"))
        s = self.rewrite(inp, "--delete", "up")
        self.assertEqual(sorted(os.listdir(self.out)), sorted([s["ulid"], ".promblock.lock"]))


class ExitCodeTest(RewriteBase):
    def test_bad_usage_exits_2(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        cases = [["--delete", '{job=~"("}', inp], ["--delete", "{", inp],
                 ["--delete", '{job=""}', inp], ["--drop-label", "", inp],
                 ["--no-such-flag", inp], [self.tmp + "/in"], [self.tmp + "/empty"]]
        os.makedirs(os.path.join(self.tmp, "empty"))
        h.copy_block(h.block_dirs(REALWORLD)[1], os.path.join(self.tmp, "in"))
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = h.run_promblock(["rewrite", "--out", self.out] + args)
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, "")
                self.assertFalse(os.path.exists(self.out), "nothing written on bad usage")
        rc, _, err = h.run_promblock(["rewrite", inp])
        self.assertEqual(rc, 2, "--out is required")
        rc, _, err = h.run_promblock(["rewrite", "--out", os.path.join(inp, "x"), inp])
        self.assertEqual(rc, 2, "--out inside the block")

    def test_missing_block_exits_1(self):
        rc, out, err = h.run_promblock(["rewrite", "--out", self.out, "/nonexistent/block"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/block", err)

    def test_locked_out_dir_exits_75(self):
        inp = self.input_copy(h.block_dirs(REALWORLD)[0])
        os.makedirs(self.out)
        with open(os.path.join(self.out, ".promblock.lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            rc, out, err = h.run_promblock(["rewrite", "--out", self.out, "--delete", "up", inp])
        self.assertEqual(rc, 75, err)
        self.assertEqual(self.new_blocks(), [])


if __name__ == "__main__":
    h.main()
