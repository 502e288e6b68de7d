#!/usr/bin/env python3
"""promblock dump on damaged blocks fails cleanly.

For every corruption of a copy of a small block: exit code 1; stderr is exactly
one (non-empty) line that names the block (ULID or path) and the damaged file
(index, chunks/000001, meta.json); no crash traces (Python, sanitizers, C++
terminate, signals); the source tree is unchanged (names, sizes, mtimes,
modes); and it finishes within 30 s. Checked with the block dir itself and
with its parent (a dir of blocks) as SOURCE (except for meta.json damage:
there the block dir is a partial block, which is skipped, not an error).
"""

import os
import shutil
import struct
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FORBIDDEN = ("Traceback", "AddressSanitizer", "LeakSanitizer", "runtime error:",
             "terminate called", "Segmentation fault", "core dumped", "Aborted", "panic")


def _patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset if offset >= 0 else os.path.getsize(path) + offset)
        f.write(data)


def _flip(path, offset, mask=0xFF):
    with open(path, "r+b") as f:
        pos = offset if offset >= 0 else os.path.getsize(path) + offset
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ mask]))


def _truncate(path, length):
    n = length if length >= 0 else os.path.getsize(path) + length
    with open(path, "r+b") as f:
        f.truncate(n)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _first_chunk(block):
    """(offset of the first chunk's data in chunks/000001, its data length)."""
    b = h.read_block(block)
    refs = sorted(c.ref for _, cs in b.series for c in cs)
    off = refs[0] & 0xFFFFFFFF
    seg = _read(os.path.join(block, "chunks", "000001"))
    ln, pos = h._uvarint(seg, off)
    return pos + 1, ln  # past the encoding byte


def _last_chunk_crc_offset(block):
    b = h.read_block(block)
    c = max((c for _, cs in b.series for c in cs), key=lambda c: c.ref)
    seg = _read(os.path.join(block, "chunks", "000001"))
    ln, pos = h._uvarint(seg, c.ref & 0xFFFFFFFF)
    return pos + 1 + ln


def corruptions():
    """[(name, file named in the error, function(block dir))]."""
    idx = lambda b: os.path.join(b, "index")
    seg = lambda b: os.path.join(b, "chunks", "000001")
    meta = lambda b: os.path.join(b, "meta.json")

    def chunk_data_flip(b):
        off, ln = _first_chunk(b)
        _flip(seg(b), off + ln // 2, 0x10)

    def chunk_crc_flip(b):
        _flip(seg(b), _last_chunk_crc_offset(b), 0x01)

    def meta_truncated(b):
        _truncate(meta(b), os.path.getsize(meta(b)) // 2)

    def toc_offset_beyond_end(b):
        # Symbols offset -> far past the end, with a matching TOC checksum.
        data = bytearray(_read(idx(b)))
        toc = bytearray(data[-52:-4])
        toc[0:8] = struct.pack(">Q", len(data) * 4)
        data[-52:] = toc + struct.pack(">I", h.crc32c(bytes(toc)))
        _write(idx(b), bytes(data))

    out = [
        ("index magic", "index", lambda b: _patch(idx(b), 0, b"\xde\xad\xbe\xef")),
        ("index version", "index", lambda b: _patch(idx(b), 4, b"\x09")),
        ("index empty", "index", lambda b: _truncate(idx(b), 0)),
        ("index truncated to 3", "index", lambda b: _truncate(idx(b), 3)),
        ("index truncated to 5", "index", lambda b: _truncate(idx(b), 5)),
        ("index truncated to 64", "index", lambda b: _truncate(idx(b), 64)),
        ("index truncated to half", "index",
         lambda b: _truncate(idx(b), os.path.getsize(idx(b)) // 2)),
        ("index truncated by 1", "index", lambda b: _truncate(idx(b), -1)),
        ("index truncated by 52", "index", lambda b: _truncate(idx(b), -52)),
        ("TOC checksum", "index", lambda b: _flip(idx(b), -1)),
        ("TOC symbols offset", "index", lambda b: _flip(idx(b), -52 + 7, 0x04)),
        ("TOC series offset high byte", "index", lambda b: _flip(idx(b), -52 + 8, 0x80)),
        ("TOC postings table offset", "index", lambda b: _flip(idx(b), -52 + 47, 0x01)),
        ("TOC offset beyond end (valid CRC)", "index", toc_offset_beyond_end),
        ("chunk data flipped (CRC mismatch)", "chunks/000001", chunk_data_flip),
        ("chunk CRC flipped", "chunks/000001", chunk_crc_flip),
        ("segment magic", "chunks/000001", lambda b: _flip(seg(b), 0)),
        ("segment version", "chunks/000001", lambda b: _patch(seg(b), 4, b"\x07")),
        ("segment truncated to half (refs past end)", "chunks/000001",
         lambda b: _truncate(seg(b), os.path.getsize(seg(b)) // 2)),
        ("segment truncated by 1", "chunks/000001", lambda b: _truncate(seg(b), -1)),
        ("segment truncated to header", "chunks/000001", lambda b: _truncate(seg(b), 8)),
        ("segment truncated to 3", "chunks/000001", lambda b: _truncate(seg(b), 3)),
        ("segment missing", "chunks/000001", lambda b: os.unlink(seg(b))),
        ("meta.json garbage", "meta.json",
         lambda b: _write(meta(b), "this is not json {\n")),
        ("meta.json truncated", "meta.json", meta_truncated),
        ("meta.json wrong types", "meta.json",
         lambda b: _write(meta(b), '{"ulid": 7, "minTime": "x", "maxTime": []}')),
    ]
    return out


class CorruptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The first basic block: 24 series, one chunk each, all files small.
        cls.orig = h.block_dirs(h.committed_block_sets()["basic"])[0]
        cls.ulid = os.path.basename(cls.orig)

    def fresh_copy(self):
        parent = h.mkdtemp()
        return parent, h.copy_block(self.orig, parent)

    def test_intact_copy_dumps(self):
        # The control: without damage the copy dumps like promtool.
        parent, blk = self.fresh_copy()
        rc, out, err = h.run_promblock(["dump", blk], timeout=30)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, h.promtool_dump(self.orig))

    def test_corruptions(self):
        for name, fname, damage in corruptions():
            # In a dir of blocks, a ULID dir whose meta.json cannot be read is a
            # partial block, not an error: only the block itself is
            # given as SOURCE for meta.json damage.
            for as_parent in (False,) if fname == "meta.json" else (False, True):
                with self.subTest(corruption=name, source="parent dir" if as_parent else "block"):
                    parent, blk = self.fresh_copy()
                    damage(blk)
                    src = parent if as_parent else blk
                    before = h.snapshot_tree(parent)
                    rc, out, err = h.run_promblock(["dump", src], timeout=30)
                    after = h.snapshot_tree(parent)
                    for bad in FORBIDDEN:
                        self.assertNotIn(bad, err)
                    self.assertEqual(rc, 1, "exit code %d; stderr: %s" % (rc, err[-2000:]))
                    lines = [l for l in err.splitlines() if l.strip()]
                    self.assertEqual(len(lines), 1, "stderr must be one line:\n" + err[-2000:])
                    line = lines[0]
                    self.assertTrue(self.ulid in line or blk in line,
                                    "error does not name the block: " + line)
                    self.assertIn(fname, line, "error does not name the file")
                    self.assertEqual(after, before, "the source was modified")

    def test_merge_of_many_inputs_names_the_damaged_chunk(self):
        """A merge of 4 or more inputs reads chunks in windows (pread), not
        through the mapping: damage found there is the same one line."""
        parent = h.mkdtemp()
        srcs = []
        for r in ("replica_a", "replica_b"):
            shutil.copytree(os.path.join(h.TESTDATA, "realworld", r), os.path.join(parent, r))
            srcs.append(os.path.join(parent, r))
        blocks = h.block_dirs(srcs[0]) + h.block_dirs(srcs[1])
        self.assertGreaterEqual(len(blocks), 4)
        out = os.path.join(parent, "out")
        rc, so, err = h.run_promblock(["merge", "--dedup", "chain", "--out", out] + srcs,
                                      timeout=60)
        self.assertEqual(rc, 0, err)  # the control
        for damage, want in ((lambda seg: _flip(seg, os.path.getsize(seg) // 2),
                              ("checksum mismatch",)),
                             (lambda seg: _truncate(seg, os.path.getsize(seg) // 2),
                              ("outside the segment", "past the end of the segment"))):
            for blk in (blocks[0], blocks[-1]):
                with self.subTest(block=blk, want=want):
                    seg = os.path.join(blk, "chunks", "000001")
                    saved = _read(seg)
                    damage(seg)
                    before = h.snapshot_tree(parent)
                    out = os.path.join(h.mkdtemp(), "out")
                    rc, so, err = h.run_promblock(["merge", "--dedup", "chain", "--out", out] +
                                                  srcs, timeout=60)
                    after = h.snapshot_tree(parent)
                    _write(seg, saved)
                    for bad in FORBIDDEN:
                        self.assertNotIn(bad, err)
                    self.assertEqual(rc, 1, err[-2000:])
                    lines = [l for l in err.splitlines() if l.strip()]
                    self.assertEqual(len(lines), 1, err[-2000:])
                    self.assertIn(seg, lines[0])
                    self.assertTrue(any(w in lines[0] for w in want), lines[0])
                    self.assertEqual(after, before, "the source was modified")
                    self.assertFalse(os.path.isdir(out) and
                                     [d for d in os.listdir(out) if d != ".promblock.lock"],
                                     "merge published something")


if __name__ == "__main__":
    h.main()
