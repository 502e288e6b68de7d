#!/usr/bin/env python3
"""promblock verify: passes on healthy blocks, finds injected faults.

Healthy: every committed block (testdata/blocks/*, testdata/realworld/*,
tests/fixtures/*/), blocks written by `promblock merge`, and blocks from our
writer (roundtrip_block): exit 0 and no error lines (warnings are allowed),
with and without --deep.

Damaged copies of a small promtool-made block, and hand-made inconsistent
blocks (tests/tools/make_bad_block): exit 1; at least one error line that
names the block (ULID), the damaged file and, where there is one, the series;
each problem is one line (one JSON object with --json); no crash traces; the
block is left unchanged; quick.
"""

import json
import os
import shutil
import struct
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_corrupt as tc  # noqa: E402  (its damage helpers and corruption list)

FORBIDDEN = tc.FORBIDDEN
MAKE_BAD_BLOCK = os.path.join(h.BUILD, "tests", "make_bad_block")
JSON_FIELDS = ["block", "path", "file", "series", "problem", "severity"]


def verify(args, timeout=60):
    return h.run_promblock(["verify"] + list(args), timeout=timeout)


def error_lines(out):
    """Text-mode problem lines that are errors (warnings say 'warning:')."""
    return [l for l in out.splitlines() if l.strip() and ": warning: " not in l]


def toc(block):
    data = tc._read(os.path.join(block, "index"))
    return struct.unpack(">6Q", data[-52:-4])


def committed_blocks():
    blocks = h.all_committed_blocks()
    rw = os.path.join(h.TESTDATA, "realworld")
    for n in sorted(os.listdir(rw)):
        if os.path.isdir(os.path.join(rw, n)):
            blocks += h.block_dirs(os.path.join(rw, n))
    fixtures = os.path.join(h.REPO, "tests", "fixtures")
    for n in sorted(os.listdir(fixtures)):
        d = os.path.join(fixtures, n)
        for sub in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if os.path.isfile(os.path.join(d, sub, "meta.json")):
                blocks.append(os.path.join(d, sub))
    return blocks


# ---------------------------------------------------------------- faults on copies

def _idx(b):
    return os.path.join(b, "index")


def _seg(b):
    return os.path.join(b, "chunks", "000001")


def _meta_edit(b, fn):
    m = h.read_meta(b)
    fn(m)
    tc._write(os.path.join(b, "meta.json"), json.dumps(m, indent="\t"))


def _flip_symbol(b):
    symbols = toc(b)[0]
    tc._flip(_idx(b), symbols + 4 + 4 + 2, 0x01)  # inside the first symbol


def _flip_series(b):
    series = (toc(b)[1] + 15) // 16 * 16  # the first entry (the TOC offset is unaligned)
    tc._flip(_idx(b), series + 3, 0x01)  # inside its body


def _flip_series_padding(b):
    series = toc(b)[1]
    assert series % 16 != 0, "no padding before the first series entry"
    tc._flip(_idx(b), series, 0x01)


def _flip_postings_offset_table(b):
    pot = toc(b)[5]
    tc._flip(_idx(b), pot + 4 + 4 + 3, 0x01)


def _flip_postings_list(b):
    postings = toc(b)[4]
    tc._flip(_idx(b), postings + 4 + 4 + 2, 0x01)  # first ref of the all-series list


def _flip_chunk_data(b):
    off, ln = tc._first_chunk(b)
    tc._flip(_seg(b), off + ln // 2, 0x10)


def _first_mint(b):
    return min(c.mint for _, cs in h.read_block(b).series for c in cs)


def _ref_past_segment_end(b):
    # Cut the segment inside its last chunk: that chunk's ref now runs past the end.
    seg = tc._read(_seg(b))
    last = max(c.ref for _, cs in h.read_block(b).series for c in cs) & 0xFFFFFFFF
    tc._truncate(_seg(b), last + 2)
    assert len(seg) > last + 2


# (name, file named, names a series, damage)
BYTE_FAULTS = [
    ("symbol table byte flip", "index", False, _flip_symbol),
    ("series entry byte flip", "index", False, _flip_series),
    ("series padding byte flip", "index", False, _flip_series_padding),
    ("postings offset table byte flip", "index", False, _flip_postings_offset_table),
    ("postings list byte flip", "index", False, _flip_postings_list),
    ("chunk data byte flip", "chunks/000001", True, _flip_chunk_data),
    ("chunk CRC byte flip", "chunks/000001", True,
     lambda b: tc._flip(_seg(b), tc._last_chunk_crc_offset(b), 0x01)),
    ("chunk ref past the segment end", "chunks/000001", True, _ref_past_segment_end),
    ("missing chunks segment", "chunks/000001", True, lambda b: os.unlink(_seg(b))),
    ("wrong numSamples", "meta.json", False,
     lambda b: _meta_edit(b, lambda m: m["stats"].update(numSamples=m["stats"]["numSamples"] + 1))),
    ("wrong numSeries", "meta.json", False,
     lambda b: _meta_edit(b, lambda m: m["stats"].update(numSeries=m["stats"]["numSeries"] - 1))),
    ("minTime == maxTime", "meta.json", False,
     lambda b: _meta_edit(b, lambda m: m.update(minTime=m["maxTime"]))),
    ("minTime > maxTime", "meta.json", False,
     lambda b: _meta_edit(b, lambda m: m.update(minTime=m["maxTime"] + 1000))),
    ("chunks before the block range", "index", True,
     lambda b: _meta_edit(b, lambda m: m.update(minTime=_first_mint(b) + 1))),
    ("chunks after the block range", "index", True,
     lambda b: _meta_edit(b, lambda m: m.update(maxTime=_first_mint(b) + 1))),
    ("ULID not the directory name", "meta.json", False,
     lambda b: _meta_edit(b, lambda m: m.update(ulid="01ARZ3NDEKTSV4RRFFQ69G5FAV"))),
]

# make_bad_block faults: (fault, file named, names a series)
MADE_FAULTS = [
    ("unsorted-series", "index", True),
    ("duplicate-series", "index", True),
    ("unsorted-labels", "index", True),
    ("chunks-overlap", "index", True),
    ("postings-nowhere", "index", False),
    ("postings-missing", "index", False),
    ("postings-unsorted", "index", False),
    ("offsets-unsorted", "index", False),
    ("symbols-unsorted", "index", False),
]


class VerifyTestBase(unittest.TestCase):
    def check_finds(self, blk, src, fname, names_series, deep=False):
        """Runs verify on src (blk or its parent) in text and JSON mode and checks
        the report of the damaged block blk."""
        ulid = os.path.basename(blk)
        parent = os.path.dirname(blk)
        before = h.snapshot_tree(parent)
        args = ["--deep"] if deep else []
        t0 = time.monotonic()
        rc, out, err = verify(args + [src], timeout=30)
        elapsed = time.monotonic() - t0
        for bad in FORBIDDEN:
            self.assertNotIn(bad, err)
        self.assertEqual(rc, 1, "exit code %d\nstdout: %s\nstderr: %s" % (rc, out[-3000:], err[-2000:]))
        self.assertLess(elapsed, 30)
        errs = error_lines(out)
        self.assertTrue(errs, "no error line:\n" + out)
        hits = [l for l in errs if l.startswith(os.path.join(blk, fname) + ": ") and ulid in l]
        self.assertTrue(hits, "no error line names %s/%s:\n%s" % (ulid, fname, out))
        if names_series:
            self.assertTrue(any(": series {" in l for l in hits),
                            "no error line names the series:\n" + out)
        self.assertIn("verified ", err)
        # JSON: one object per problem line, the same number of problems.
        rc_j, out_j, err_j = verify(args + ["--json", src], timeout=30)
        self.assertEqual(rc_j, 1)
        objs = [json.loads(l) for l in out_j.splitlines()]
        self.assertEqual(len(objs), len(out.splitlines()), out_j)
        for o in objs:
            self.assertEqual(list(o), JSON_FIELDS)
            self.assertIn(o["severity"], ("error", "warning"))
        jhits = [o for o in objs if o["severity"] == "error" and o["block"] in (ulid, ) and
                 o["file"] == fname and o["path"] == blk]
        if fname == "meta.json" and not jhits:  # a ULID edit: block is meta.json's ULID
            jhits = [o for o in objs if o["severity"] == "error" and o["file"] == fname]
        self.assertTrue(jhits, out_j)
        if names_series:
            self.assertTrue(any(o["series"] and o["series"].startswith("{") for o in jhits),
                            out_j)
        self.assertEqual(h.snapshot_tree(parent), before, "verify modified the block")


class VerifyHealthyTest(VerifyTestBase):
    def assert_healthy(self, srcs, deep=False):
        rc, out, err = verify((["--deep"] if deep else []) + list(srcs), timeout=300)
        for bad in FORBIDDEN:
            self.assertNotIn(bad, err)
        self.assertEqual(error_lines(out), [], "%s\n%s" % (srcs, err))
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"verified \d+ blocks?: \d+ problems?")
        return out, err

    def test_committed_blocks(self):
        blocks = committed_blocks()
        self.assertGreater(len(blocks), 10)
        for b in blocks:
            for deep in (False, True):
                with self.subTest(block=b, deep=deep):
                    self.assert_healthy([b], deep)

    def test_committed_sources(self):
        sets = list(h.committed_block_sets().values())
        rw = os.path.join(h.TESTDATA, "realworld")
        sets += [os.path.join(rw, "replica_a"), os.path.join(rw, "replica_b")]
        out, err = self.assert_healthy(sets, deep=True)
        self.assertIn("verified %d blocks" % sum(len(h.block_dirs(s)) for s in sets), err)

    def test_promblock_merge_output(self):
        out_dir = h.mkdtemp()
        rc, out, err = h.run_promblock(
            ["merge", "--out", out_dir,
             os.path.join(h.TESTDATA, "blocks", "replica_a"),
             os.path.join(h.TESTDATA, "blocks", "replica_b")], timeout=300)
        self.assertEqual(rc, 0, err)
        made = h.block_dirs(out_dir)
        self.assertTrue(made)
        for deep in (False, True):
            self.assert_healthy([out_dir], deep)

    def test_roundtrip_block_output(self):
        out_dir = h.mkdtemp()
        src = h.block_dirs(h.committed_block_sets()["basic"])[0]
        rc, out, err = h.run_roundtrip(src, out_dir)
        self.assertEqual(rc, 0, err)
        self.assert_healthy([out_dir], deep=True)

    def test_hand_made_healthy_block(self):
        parent = h.mkdtemp()
        rc, out, err = h.run([MAKE_BAD_BLOCK, "none", parent])
        self.assertEqual(rc, 0, err)
        out, err = self.assert_healthy([parent], deep=True)
        self.assertEqual(out, "")

    def test_overlaps_are_warnings_unless_no_overlaps(self):
        # Two copies of one block under different ULIDs in one source overlap.
        parent = h.mkdtemp()
        src = h.block_dirs(h.committed_block_sets()["basic"])[0]
        a = h.copy_block(src, parent)
        b = os.path.join(parent, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        shutil.copytree(src, b)
        _meta_edit(b, lambda m: m.update(ulid="01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        rc, out, err = verify([parent])
        self.assertEqual(rc, 0, out + err)
        warn = [l for l in out.splitlines() if "overlaps block" in l]
        self.assertEqual(len(warn), 1, out)
        self.assertIn(": warning: ", warn[0])
        rc, out, err = verify(["--no-overlaps", parent])
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(len(error_lines(out)), 1, out)
        self.assertIn("overlaps block", error_lines(out)[0])
        # Different sources without external labels are separate groups.
        rc, out, err = verify(["--no-overlaps", a, b])
        self.assertEqual(rc, 0, out + err)

    def test_usage(self):
        rc, out, err = verify(["--bogus", h.TESTDATA])
        self.assertEqual(rc, 2)
        rc, out, err = verify([])
        self.assertEqual(rc, 2)
        rc, out, err = verify([os.path.join(h.mkdtemp(), "nope")])
        self.assertEqual(rc, 1)
        self.assertIn("nope", err)
        rc, out, err = verify(["--help"])
        self.assertEqual(rc, 0)
        for word in ("--deep", "--json", "--no-overlaps", "Exit status"):
            self.assertIn(word, out)


class VerifyFaultTest(VerifyTestBase):
    @classmethod
    def setUpClass(cls):
        cls.orig = h.block_dirs(h.committed_block_sets()["basic"])[0]

    def fresh_copy(self):
        parent = h.mkdtemp()
        return parent, h.copy_block(self.orig, parent)

    def test_control(self):
        parent, blk = self.fresh_copy()
        rc, out, err = verify(["--deep", blk])
        self.assertEqual((rc, error_lines(out)), (0, []), err)

    def test_byte_faults(self):
        for name, fname, names_series, damage in BYTE_FAULTS:
            for as_parent in (False, True):
                with self.subTest(fault=name, source="parent" if as_parent else "block"):
                    parent, blk = self.fresh_copy()
                    damage(blk)
                    self.check_finds(blk, parent if as_parent else blk, fname, names_series)

    def test_dump_corruptions_too(self):
        # Everything that makes `dump` fail must make `verify` fail too.
        for name, fname, damage in tc.corruptions():
            with self.subTest(fault=name):
                parent, blk = self.fresh_copy()
                damage(blk)
                self.check_finds(blk, blk, fname, False)

    def test_made_faults(self):
        self.assertTrue(os.path.isfile(MAKE_BAD_BLOCK), MAKE_BAD_BLOCK)
        for fault, fname, names_series in MADE_FAULTS:
            with self.subTest(fault=fault):
                parent = h.mkdtemp()
                rc, out, err = h.run([MAKE_BAD_BLOCK, fault, parent])
                self.assertEqual(rc, 0, err)
                blk = out.strip()
                self.check_finds(blk, parent, fname, names_series)

    def test_deep_only_fault(self):
        parent = h.mkdtemp()
        rc, out, err = h.run([MAKE_BAD_BLOCK, "chunk-times-wrong", parent])
        self.assertEqual(rc, 0, err)
        blk = out.strip()
        rc, out, err = verify([blk])
        self.assertEqual((rc, out), (0, ""), err)
        self.check_finds(blk, blk, "chunks/000001", True, deep=True)

    def test_many_problems_are_capped(self):
        # Every chunk outside the range: a line each up to the cap, then one
        # "more like this" line; the summary counts them all.
        parent, blk = self.fresh_copy()
        _meta_edit(blk, lambda m: m.update(maxTime=_first_mint(blk) + 1))
        nchunks = h.read_meta(blk)["stats"]["numChunks"]
        rc, out, err = verify([blk])
        self.assertEqual(rc, 1)
        outside = [l for l in out.splitlines() if "outside the block's range" in l]
        self.assertEqual(len(outside), min(nchunks, 20), out)
        if nchunks > 20:
            self.assertIn("%d more like this not listed" % (nchunks - 20), out)


if __name__ == "__main__":
    h.main()
